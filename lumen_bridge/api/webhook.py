"""``POST /webhook``: Alertmanager's webhook, answered only after the commit.

This is the hot path of an alert storm: everything here is per request, so it checks
only the headers and hands the raw body to ingest. The body is parsed where it is decided
(in the writer process by default: one parse, off the serving process), so a body that is
not a valid webhook comes back from ingest as its answer, :class:`Rejected`, and is
answered 400 or 422 here. The handler does not log (a committed batch is logged at debug
level).
"""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic_core import to_json

from lumen_bridge.api.auth import require_bearer
from lumen_bridge.api.errors import ApiError, invalid_body
from lumen_bridge.api.keys import CLOCK, INGEST, METRICS, SETTINGS
from lumen_bridge.domain.alertmanager import Rejected
from lumen_bridge.ingest import Unavailable
from lumen_bridge.pipeline import Webhook

__all__ = ["receive"]

log = structlog.get_logger("lumen_bridge.webhook")


async def receive(request: web.Request) -> web.Response:
    """Validate, store and decide one webhook delivery; count the answer's code."""
    metrics = request.app[METRICS]
    try:
        response = await _receive(request)
    except (ApiError, web.HTTPException) as exc:
        metrics.answered(exc.status)
        raise
    metrics.answered(response.status)
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
    try:
        answer = await app[INGEST].submit(Webhook(body, received_at))
    except Unavailable as exc:
        log.warning("database cannot take the webhook", error=str(exc))
        raise ApiError(503, "database unavailable; retry later") from exc
    if isinstance(answer, Rejected):  # the body was parsed with its batch, and refused
        raise invalid_body(answer.problems, "Alertmanager webhook (version 4)")
    return web.Response(body=to_json(answer.as_json()), content_type="application/json")
