"""create_app(): configuration, database, pipeline, routes and middlewares wired together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from lumen_bridge.api import health, incidents, openapi, silences, webhook
from lumen_bridge.api.errors import error_middleware
from lumen_bridge.clock import Clock, system_clock
from lumen_bridge.config import Settings
from lumen_bridge.delivery import delivery_context
from lumen_bridge.keys import (
    CLOCK,
    ENGINE,
    HEAD_REVISION,
    INGEST,
    METRICS,
    PIPELINE,
    SESSIONS,
    SETTINGS,
    TRANSACTIONS,
    WRITER,
)
from lumen_bridge.metrics import Metrics
from lumen_bridge.pipeline import Answer, Pipeline, Webhook
from lumen_bridge.pipeline.writer import WriterProcess
from lumen_bridge.store import migrate
from lumen_bridge.store.batch import GroupCommit
from lumen_bridge.store.db import Transactions, create_engine, session_factory

BATCH_BYTES = 16 * 1024 * 1024
"""At most this much webhook body per group commit (a larger webhook is a batch alone)."""


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Apply migrations, open the engine and start the group commit; stop them after."""
    settings = app[SETTINGS]
    await asyncio.to_thread(migrate.upgrade, settings.database.url)
    engine = create_engine(settings.database)
    app[ENGINE] = engine
    app[SESSIONS] = session_factory(engine)
    transactions = app[TRANSACTIONS] = Transactions(settings.database)
    pipeline = app[PIPELINE] = Pipeline(settings, transactions)
    writer: WriterProcess | None = None

    async def run_many(webhooks: Sequence[Webhook]) -> list[Answer]:
        if writer is not None:
            return await writer.run_many(webhooks)
        return await pipeline.run_many(webhooks)

    if settings.database.writer == "process":
        writer = app[WRITER] = WriterProcess(settings)
        await writer.start()
    app[INGEST] = GroupCommit(
        "webhooks", run_many, size=lambda webhook: len(webhook.body), max_size=BATCH_BYTES
    )
    app[INGEST].start()
    yield
    await app[INGEST].stop()
    if writer is not None:
        await writer.close()
    await transactions.close()
    await engine.dispose()


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
    if deliver:
        app.cleanup_ctx.append(delivery_context)
    silences.add_routes(app)
    app.router.add_post("/webhook", webhook.receive)
    app.router.add_get("/incidents", incidents.list_incidents)
    app.router.add_get("/incidents/{id}", incidents.get_incident)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_get("/openapi.json", openapi.serve)
    return app
