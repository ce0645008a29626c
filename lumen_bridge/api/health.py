"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Connection

from lumen_bridge.api.keys import CLOCK, HEAD_REVISION, METRICS, RUNNER, SETTINGS
from lumen_bridge.pipeline.suppress import suppression_at
from lumen_bridge.store import migrate, read_models

__all__ = ["healthz", "metrics", "readyz"]

log = structlog.get_logger("lumen_bridge.metrics")


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and its schema is at this version's head."""
    head = request.app[HEAD_REVISION]
    try:
        current = await request.app[RUNNER].read(migrate.current_revision)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return web.json_response(
            {"status": "unavailable", "error": f"database: {type(exc).__name__}"}, status=503
        )
    if current != head:
        return web.json_response(
            {"status": "unavailable", "error": f"schema at {current}, expected {head}"},
            status=503,
        )
    return web.json_response({"status": "ready", "schema": current})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition; the database gauges are refreshed first."""
    app = request.app
    registry = app[METRICS]
    now = app[CLOCK]()
    flag = app[SETTINGS].suppression.flag

    def read(connection: Connection) -> tuple[read_models.Stats, bool]:
        return read_models.stats(connection, now), suppression_at(connection, now, flag).flag

    try:
        stats, suppressed = await app[RUNNER].read(read)
    except Exception as exc:  # a scrape must not fail with the database: gauges keep old values
        log.warning("cannot refresh gauges from the database", error=type(exc).__name__)
    else:
        registry.outbox_pending.set(stats.outbox_pending)
        registry.outbox_oldest_age.set(stats.outbox_oldest_age_seconds)
        registry.outbox_dead.set(stats.outbox_dead)
        registry.incidents_open.set(stats.incidents_open)
        registry.suppressed.set(1 if suppressed else 0)
    return web.Response(
        body=generate_latest(registry.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
