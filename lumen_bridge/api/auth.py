"""Bearer authentication: the alert token for ``/webhook``, the admin token for the rest.

Tokens are compared in constant time. No token configured means authentication is off;
``serve`` then binds a loopback address only (docs/contract.md §2).
"""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr

from lumen_bridge.api.errors import ApiError
from lumen_bridge.api.keys import SETTINGS

__all__ = ["require_admin", "require_bearer"]


def require_bearer(request: web.Request, token: SecretStr | None) -> None:
    """Raise 401 unless the request carries ``Authorization: Bearer <token>``.

    ``token`` None means authentication is off (the server then binds loopback only).
    """
    if token is None:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # aiohttp keeps bytes that are not UTF-8 as surrogate escapes: compare the bytes sent
    sent = given.strip().encode("utf-8", "surrogateescape")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent, expected):
        raise ApiError(401, "missing or wrong bearer token")


def require_admin(request: web.Request) -> None:
    """Raise 401 unless the request carries the admin token (when one is configured)."""
    require_bearer(request, request.app[SETTINGS].auth.admin_token)
