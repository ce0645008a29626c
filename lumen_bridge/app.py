"""The composition root: :func:`create_app` builds every part of the bridge and wires them.

Started in this order, stopped in the reverse (aiohttp's ``cleanup_ctx``): the database
(migrations, then the process's runner), ingest (the pipeline, the writer process and the
group commit), the delivery worker, the silence replayer. docs/architecture.md shows what
each part owns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from lumen_bridge.api.errors import error_middleware
from lumen_bridge.api.keys import CLOCK, HEAD_REVISION, INGEST, METRICS, REPLAYER, RUNNER, SETTINGS
from lumen_bridge.api.routes import add_routes
from lumen_bridge.clock import Clock, system_clock
from lumen_bridge.config import Settings
from lumen_bridge.delivery import OutboxWorker, delivering
from lumen_bridge.ingest import Ingest
from lumen_bridge.metrics import Metrics
from lumen_bridge.pipeline import Pipeline, Replayer
from lumen_bridge.store import migrate
from lumen_bridge.store.database import open_runner

__all__ = ["OUTBOX", "create_app"]

OUTBOX = web.AppKey("outbox", OutboxWorker)
"""The delivery worker, when this app delivers (``deliver=True``)."""


def _wake_outbox(app: web.Application) -> Callable[[], None]:
    """A callable that wakes the delivery worker, if this app runs one."""

    def wake() -> None:
        worker = app.get(OUTBOX)
        if worker is not None:
            worker.wake()

    return wake


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Apply the migrations, then open the process's runner."""
    settings = app[SETTINGS]
    await asyncio.to_thread(migrate.upgrade, settings.database.url)
    runner = app[RUNNER] = open_runner(settings.database)
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
        app[SETTINGS], app[RUNNER], app[METRICS], app[CLOCK], pressure=app[INGEST]
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


def create_app(
    settings: Settings, *, clock: Clock = system_clock, deliver: bool = True
) -> web.Application:
    """Build the aiohttp application for ``settings`` (the database opens at startup).

    ``deliver=False`` leaves the outbox to other processes (tests that inspect it).
    """
    app = web.Application(
        middlewares=[error_middleware], client_max_size=settings.server.max_body_bytes
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app[METRICS].suppressed.set(1 if settings.suppression.flag else 0)
    app[HEAD_REVISION] = migrate.head_revision() or ""
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_ingest)
    if deliver:
        app.cleanup_ctx.append(_delivery)
    app.cleanup_ctx.append(_replay)
    add_routes(app)
    return app
