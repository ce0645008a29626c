"""``POST /webhook``: Alertmanager's webhook, answered only after the commit.

This is the hot path of an alert storm: everything here is per request, so it checks
only the headers (and, when a secret is configured, the body's HMAC-SHA256 signature) and
hands the raw body to ingest. The body is parsed where it is decided (in the writer
process by default: one parse, off the serving process), so a body that is not a valid
webhook comes back from ingest as its answer, :class:`Rejected`, and is answered 400 or
422 here. An accepted webhook is not logged (a committed batch is logged at debug level);
a rejected one is, with its reason and peer, at most a few times a minute per reason
(:class:`lumen_bridge.ingest.RejectionLog`).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from aiohttp import web
from pydantic_core import to_json

from lumen_bridge.api.auth import require_bearer
from lumen_bridge.api.errors import ApiError, invalid_body
from lumen_bridge.api.keys import CLOCK, INGEST, METRICS, REJECTIONS, SETTINGS, WEBHOOK_SECRET
from lumen_bridge.config import AuthConfig, ConfigError
from lumen_bridge.domain.alertmanager import Rejected
from lumen_bridge.ingest import Unavailable
from lumen_bridge.pipeline import Webhook

__all__ = ["read_secret", "receive"]


def read_secret(auth: AuthConfig) -> bytes | None:
    """The secret webhook bodies are signed with, read once at start (``None`` when none is
    configured); :class:`ConfigError` when its file cannot be read or is empty."""
    path = auth.webhook_hmac_secret_file
    if path is None:
        return None
    where = "auth.webhook_hmac_secret_file (LUMEN_WEBHOOK_HMAC_SECRET_FILE)"
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read {path}: {exc.strerror}"]) from exc
    if not secret:
        raise ConfigError([f"{where}: {path} is empty; put the shared secret in it"])
    return secret


async def receive(request: web.Request) -> web.Response:
    """Validate, store and decide one webhook delivery; count the answer's code."""
    app = request.app
    try:
        response = await _receive(request)
    except ApiError as exc:
        app[METRICS].answered(exc.status)
        cause = exc.__cause__
        error = str(cause) if isinstance(cause, Unavailable) else None
        app[REJECTIONS].rejected(exc.status, exc.message, request.remote, error)
        raise
    except web.HTTPException as exc:
        app[METRICS].answered(exc.status)
        raise
    app[METRICS].answered(response.status)
    return response


async def _receive(request: web.Request) -> web.Response:
    app = request.app
    received_at = app[CLOCK]()
    settings = app[SETTINGS]
    require_bearer(request, settings.auth.alert_token)
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    limit = settings.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body larger than the limit of {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, f"body larger than the limit of {limit} bytes") from exc
    secret = app[WEBHOOK_SECRET]
    if secret is not None:
        _check_signature(request.headers.get(settings.auth.webhook_hmac_header), body, secret)
    try:
        answer = await app[INGEST].submit(Webhook(body, received_at))
    except Unavailable as exc:
        raise ApiError(503, "database unavailable; retry later") from exc
    if isinstance(answer, Rejected):  # the body was parsed with its batch, and refused
        raise invalid_body(answer.problems, "Alertmanager webhook (version 4)")
    return web.Response(body=to_json(answer.as_json()), content_type="application/json")


def _check_signature(signature: str | None, body: bytes, secret: bytes) -> None:
    """401 unless ``signature`` is HMAC-SHA256(secret, body) in hex, optionally prefixed
    ``sha256=``; compared in constant time."""
    given = (signature or "").strip().lower().removeprefix("sha256=")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    # aiohttp keeps bytes that are not UTF-8 as surrogate escapes: compare the bytes sent
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected):
        raise ApiError(401, "missing or wrong signature")
