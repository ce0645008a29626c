"""Delivery health: per receiver, the notifications pending, being retried and dead; the
dead ones with their last error, and a button that sends one again
(:mod:`lumen_bridge.store.resend`)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from lumen_bridge.api.keys import CLOCK, INGEST, RUNNER, SETTINGS
from lumen_bridge.store import console_reads
from lumen_bridge.store.resend import NotDead, resend
from lumen_bridge.store.types import row_id
from lumen_bridge.web.render import error_page, page
from lumen_bridge.web.sessions import Session

__all__ = ["deliveries", "resend_dead"]

log = structlog.get_logger("lumen_bridge.web")


async def deliveries(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/deliveries``."""
    receivers = [r.name for r in request.app[SETTINGS].receivers]

    def read(connection: Any) -> tuple[Any, Any]:
        return (
            console_reads.delivery_health(connection, receivers),
            console_reads.dead_notifications(connection),
        )

    health, dead = await request.app[RUNNER].read(read)
    resent = request.query.get("resent", "")
    return page(
        request,
        "deliveries.html",
        session,
        health=health,
        dead=dead,
        resent=resent if resent.isascii() and resent.isdigit() else "",
    )


async def resend_dead(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/deliveries/{id}/resend``: queue a copy of a dead notification."""
    raw = request.match_info["id"]
    wanted = row_id(raw)
    if wanted is None:
        return error_page(request, 404, f"There is no notification {raw}.", session)
    outbox_id, now = wanted, request.app[CLOCK]()
    try:
        resent = await request.app[RUNNER].write(
            lambda connection: resend(connection, outbox_id, now, session.actor)
        )
    except NotDead as exc:
        return error_page(request, 409, f"{exc}: nothing was sent again.", session)
    log.info(
        "dead notification sent again",
        outbox_id=outbox_id,
        actor=session.actor,
        new_outbox_id=resent.id,
        idempotency_key=resent.idempotency_key,
    )
    request.app[INGEST].on_queued()  # wakes the delivery worker
    raise web.HTTPSeeOther(f"/ui/deliveries?resent={resent.id}")
