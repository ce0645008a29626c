"""The composition root: :func:`create_app` builds every part of the bridge and wires them.

Started in this order, stopped in the reverse (aiohttp's ``cleanup_ctx``): the database
(migrations, retried until the database answers, then the process's runner), ingest (the
pipeline, the writer process and the group commit), the delivery worker, the silence
replayer, the silences' reminders and digests, escalation, the pruner (retention) and, when
Alertmanager peers are configured, the reconciler. The routes are the API's and the web
console's. docs/architecture.md shows what each part owns. While they start,
:func:`starting_app` answers in their place (``lumen-bridge serve`` listens at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import structlog
from aiohttp import web

from lumen_bridge.api import health
from lumen_bridge.api.errors import error_middleware
from lumen_bridge.api.keys import (
    ACK_SECRET,
    CLOCK,
    HEAD_REVISION,
    INGEST,
    METRICS,
    REJECTIONS,
    REPLAYER,
    RUNNER,
    SETTINGS,
    STARTUP,
    WEBHOOK_SECRET,
)
from lumen_bridge.api.routes import add_routes
from lumen_bridge.api.webhook import read_secret
from lumen_bridge.clock import Clock, system_clock
from lumen_bridge.config import Settings
from lumen_bridge.delivery import OutboxWorker, delivering
from lumen_bridge.ingest import Ingest, RejectionLog
from lumen_bridge.lifecycle import Escalator, SilenceNotices
from lumen_bridge.metrics import Metrics
from lumen_bridge.pipeline import Pipeline, Replayer
from lumen_bridge.pruner import Pruner
from lumen_bridge.reconcile import reconciling
from lumen_bridge.store import migrate
from lumen_bridge.store.database import open_runner
from lumen_bridge.store.runner import LastOutcome
from lumen_bridge.store.signing_keys import ACK_LINKS, shared_secret
from lumen_bridge.web import add_routes as add_console_routes

__all__ = ["ESCALATOR", "OUTBOX", "SILENCE_NOTICES", "create_app", "starting_app"]

RETRY_PAUSES = (0.5, 30.0)  # first and longest pause (s) between tries to migrate at start
LOG_EVERY = 30.0  # seconds between two log lines about a database still not ready

log = structlog.get_logger("lumen_bridge.start")

OUTBOX = web.AppKey("outbox", OutboxWorker)
"""The delivery worker, when this app delivers (``deliver=True``)."""
SILENCE_NOTICES = web.AppKey("silence_notices", SilenceNotices)
"""The silences' reminders and digests."""
ESCALATOR = web.AppKey("escalator", Escalator)
"""Escalation of pages nobody acknowledged (docs/lifecycle.md)."""


def _wake_outbox(app: web.Application) -> Callable[[], None]:
    """A callable that wakes the delivery worker, if this app runs one."""

    def wake() -> None:
        worker = app.get(OUTBOX)
        if worker is not None:
            worker.wake()

    return wake


async def _migrated(url: str, startup: LastOutcome) -> None:
    """Apply the migrations, tried again with exponential backoff until they succeed; a
    failure is logged at most every :data:`LOG_EVERY` seconds (the driver's message: no
    password), and ``startup`` holds the last one for ``/readyz``."""
    pause, logged_at, failures = RETRY_PAUSES[0], -LOG_EVERY, 0
    while True:
        try:
            await asyncio.to_thread(migrate.upgrade, url)
        except Exception as exc:  # the server away, a wrong password, ...: tried again
            startup.failed(exc)
            failures += 1
            if time.monotonic() - logged_at >= LOG_EVERY:
                logged_at = time.monotonic()
                log.warning(
                    "database not ready; retrying",
                    error=startup.error,
                    failures=failures,
                    next_try_in_s=pause,
                )
            await asyncio.sleep(pause)
            pause = min(2 * pause, RETRY_PAUSES[1])
        else:
            if failures:
                log.info("database ready", failures=failures)
            startup.succeeded()
            return


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Apply the migrations (once the database answers), then open the process's runner."""
    settings = app[SETTINGS]
    await _migrated(settings.database.url, app[STARTUP])
    runner = app[RUNNER] = open_runner(settings.database)
    now = app[CLOCK]()
    app[ACK_SECRET] = await runner.write(lambda c: shared_secret(c, ACK_LINKS, now))
    yield
    await runner.close()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    """Run ingest: webhooks are answered once committed."""
    settings = app[SETTINGS]
    pipeline = Pipeline(settings, app[RUNNER])
    ingest = app[INGEST] = Ingest(settings, pipeline, app[METRICS], _wake_outbox(app))
    await ingest.start()
    yield
    await ingest.stop()


async def _delivery(app: web.Application) -> AsyncIterator[None]:
    """Run the delivery worker."""
    async with delivering(
        app[SETTINGS],
        app[RUNNER],
        app[METRICS],
        app[CLOCK],
        pressure=app[INGEST],
        ack_secret=app[ACK_SECRET],
    ) as worker:
        app[OUTBOX] = worker
        yield


async def _replay(app: web.Application) -> AsyncIterator[None]:
    """Run the silence replayer: it notifies what a silence held back when it ends."""
    replayer = Replayer(app[INGEST].pipeline, app[CLOCK], on_queued=_wake_outbox(app))
    app[REPLAYER] = replayer
    task = asyncio.create_task(replayer.run(), name="silence-replayer")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _silence_notices(app: web.Application) -> AsyncIterator[None]:
    """Run the silence notices: a reminder before a silence ends, a digest when it ends."""
    notices = SilenceNotices(
        app[SETTINGS], app[RUNNER], app[CLOCK], app[METRICS], on_queued=_wake_outbox(app)
    )
    app[SILENCE_NOTICES] = notices
    task = asyncio.create_task(notices.run(), name="silence-notices")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _escalate(app: web.Application) -> AsyncIterator[None]:
    """Run escalation: pages nobody acknowledged in time page the next level."""
    escalations = app[METRICS].escalations
    escalator = app[ESCALATOR] = Escalator(
        app[SETTINGS],
        app[INGEST].pipeline,
        app[CLOCK],
        on_queued=_wake_outbox(app),
        on_escalated=lambda receiver: escalations.labels(receiver).inc(),
    )
    task = asyncio.create_task(escalator.run(), name="escalation")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _prune(app: web.Application) -> AsyncIterator[None]:
    """Run the pruner: what is older than retention.max_age goes, in the background."""
    pruner = Pruner(app[RUNNER], app[SETTINGS].retention, app[METRICS], app[CLOCK])
    task = asyncio.create_task(pruner.run(), name="pruner")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _reconcile(app: web.Application) -> AsyncIterator[None]:
    """Run the reconciler: it resolves what Alertmanager no longer has (docs/reconcile.md)."""
    async with reconciling(
        app[SETTINGS],
        app[RUNNER],
        app[CLOCK],
        on_queued=_wake_outbox(app),
        on_reconciled=app[METRICS].reconciled.inc,
    ):
        yield


def create_app(
    settings: Settings, *, clock: Clock = system_clock, deliver: bool = True
) -> web.Application:
    """Build the aiohttp application for ``settings`` (the database opens at startup).

    ``deliver=False`` leaves the outbox to other processes (tests that inspect it). Raises
    :class:`~lumen_bridge.config.ConfigError` when the webhook signing secret cannot be read.
    """
    app = web.Application(
        middlewares=[error_middleware], client_max_size=settings.server.max_body_bytes
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app[METRICS].suppressed.set(1 if settings.suppression.flag else 0)
    app[HEAD_REVISION] = migrate.head_revision() or ""
    app[STARTUP] = LastOutcome()
    app[REJECTIONS] = RejectionLog()
    app[WEBHOOK_SECRET] = read_secret(settings.auth)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_ingest)
    if deliver:
        app.cleanup_ctx.append(_delivery)
    app.cleanup_ctx.append(_replay)
    app.cleanup_ctx.append(_silence_notices)
    app.cleanup_ctx.append(_escalate)
    app.cleanup_ctx.append(_prune)
    if settings.alertmanagers.urls:
        app.cleanup_ctx.append(_reconcile)
    add_routes(app)
    add_console_routes(app.router)  # the web console: / and /ui/...
    return app


def starting_app(app: web.Application) -> web.Application:
    """What answers in ``app``'s place while it starts: ``/healthz`` 200, any other path 503
    with what ``app`` waits for (docs/contract.md §3)."""
    starting = web.Application(middlewares=[error_middleware])
    starting[STARTUP] = app[STARTUP]
    starting.router.add_get("/healthz", health.healthz)
    starting.router.add_route("*", "/{path:.*}", health.starting)
    return starting
