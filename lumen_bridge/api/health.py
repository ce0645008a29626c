"""``/healthz``, ``/readyz`` and ``/metrics``; and what answers while the bridge starts.

Ready means: the last batch of webhooks and the last write transaction of this process
succeeded (a full disk or a lost server makes webhooks fail with 503, and ``/readyz`` says
so until webhooks are stored again), and the database answers with its schema at this
version's head. ``/readyz`` only reads.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Connection

from lumen_bridge.api.keys import (
    CLOCK,
    HEAD_REVISION,
    INGEST,
    METRICS,
    RUNNER,
    SETTINGS,
    STARTUP,
)
from lumen_bridge.pipeline.suppress import suppression_at
from lumen_bridge.store import migrate, read_models
from lumen_bridge.store.runner import describe_error

__all__ = ["healthz", "metrics", "readyz", "starting"]

log = structlog.get_logger("lumen_bridge.metrics")


async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves."""
    return web.json_response({"status": "ok"})


def _unavailable(error: str) -> web.Response:
    return web.json_response({"status": "unavailable", "error": error}, status=503)


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the last webhooks and writes were stored, the database answers, its schema
    is at head."""
    runner = request.app[RUNNER]
    for last in (request.app[INGEST].last_commit, runner.last_write):
        if last.error is not None:
            return _unavailable(f"the last write failed: {last.error}")
    head = request.app[HEAD_REVISION]
    try:
        current = await runner.read(migrate.current_revision)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return _unavailable(f"database: {describe_error(exc)}")
    if current != head:
        return _unavailable(f"schema at {current}, expected {head}")
    return web.json_response({"status": "ready", "schema": current})


async def starting(request: web.Request) -> web.Response:
    """Every path but ``/healthz`` while the bridge starts: 503 (Alertmanager retries a
    webhook), with what it waits for."""
    error = request.app[STARTUP].error
    if error is None:
        return _unavailable("starting")
    return _unavailable(f"starting: the database is not ready: {error}")


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
