"""``POST /webhook``: Alertmanager's webhook, answered only after the commit.

This is the hot path of an alert storm: everything here is per request, so it checks
only the headers and hands the raw body on (it is parsed where it is decided: in the
writer process by default, see :mod:`lumen_bridge.pipeline`), counts with metric children
looked up in advance, and does not log (a committed batch is logged at debug level).
"""

from __future__ import annotations

import structlog
from aiohttp import web
from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge import keys
from lumen_bridge.api.errors import ApiError, invalid_body, require_bearer
from lumen_bridge.payload import Rejected
from lumen_bridge.pipeline import Outcome, Webhook

log = structlog.get_logger("lumen_bridge.webhook")


async def receive(request: web.Request) -> web.Response:
    """Validate, store and decide one webhook delivery; count the answer's code."""
    metrics = request.app[keys.METRICS]
    try:
        response = await _receive(request)
    except (ApiError, web.HTTPException) as exc:
        metrics.answered(exc.status)
        raise
    metrics.answered(response.status)
    return response


async def _receive(request: web.Request) -> web.Response:
    app = request.app
    received_at = app[keys.CLOCK]()
    settings = app[keys.SETTINGS]
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
        summary = await app[keys.INGEST].submit(Webhook(body, received_at))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("database cannot take the webhook", error=type(exc).__name__)
        raise ApiError(503, "database unavailable; retry later") from exc
    if isinstance(summary, Rejected):  # the body was parsed with its batch, and refused
        raise invalid_body(summary.problems, "Alertmanager webhook (version 4)")

    if summary.outcomes[Outcome.QUEUED] and (worker := app.get(keys.OUTBOX)) is not None:
        worker.wake()
    metrics = app[keys.METRICS]
    for status, count in summary.statuses.items():
        metrics.received[status].inc(count)
    if deduplicated := summary.outcomes[Outcome.DEDUPLICATED]:
        metrics.alerts_deduplicated.inc(deduplicated)
    for reason, count in summary.suppressed_by.items():
        metrics.suppressed_by[reason].inc(count)
    return web.Response(body=to_json(summary.as_json()), content_type="application/json")
