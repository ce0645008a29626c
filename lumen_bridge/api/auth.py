"""Bearer authentication: the alert token for ``/webhook``, an admin token for the rest.

Tokens are compared in constant time. No token configured means authentication is off;
``serve`` then binds a loopback address only (docs/contract.md §2). Admin tokens may carry
names (``auth.admin_tokens``): :func:`require_admin` says whose token a request carries,
and the audit log records it (docs/audit.md).
"""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr

from lumen_bridge.api.errors import ApiError
from lumen_bridge.api.keys import SETTINGS
from lumen_bridge.config import AuthConfig
from lumen_bridge.domain.audit import LOCAL

__all__ = ["admin_named", "require_admin", "require_bearer"]


def _sent(request: web.Request) -> bytes | None:
    """The bearer token the request carries, as bytes (None without one)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    # aiohttp keeps bytes that are not UTF-8 as surrogate escapes: compare the bytes sent
    return given.strip().encode("utf-8", "surrogateescape")


def require_bearer(request: web.Request, token: SecretStr | None) -> None:
    """Raise 401 unless the request carries ``Authorization: Bearer <token>``.

    ``token`` None means authentication is off (the server then binds loopback only).
    """
    if token is None:
        return
    sent = _sent(request)
    if sent is None or not hmac.compare_digest(sent, token.get_secret_value().encode()):
        raise ApiError(401, "missing or wrong bearer token")


def admin_named(auth: AuthConfig, sent: bytes) -> str | None:
    """The name of the admin token ``sent`` is, or None (every token is compared, each in
    constant time)."""
    found = None
    for name, token in auth.admins():
        if hmac.compare_digest(sent, token.get_secret_value().encode()):
            found = name
    return found


def require_admin(request: web.Request) -> str:
    """Who the request acts as: the name of the admin token it carries (``local`` while
    admin authentication is off); raise 401 when it carries none."""
    auth = request.app[SETTINGS].auth
    if not auth.admins():
        return LOCAL
    sent = _sent(request)
    name = None if sent is None else admin_named(auth, sent)
    if name is None:
        raise ApiError(401, "missing or wrong bearer token")
    return name
