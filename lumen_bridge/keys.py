"""Typed keys of what the application holds (``app[SETTINGS]``, ``app[PIPELINE]``, ...)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from lumen_bridge.clock import Clock
from lumen_bridge.config import Settings
from lumen_bridge.metrics import Metrics
from lumen_bridge.outbox import OutboxWorker
from lumen_bridge.pipeline import Answer, Pipeline, Webhook
from lumen_bridge.pipeline.replay import Replayer
from lumen_bridge.pipeline.writer import WriterProcess
from lumen_bridge.store.batch import GroupCommit
from lumen_bridge.store.db import Transactions

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
TRANSACTIONS = web.AppKey("transactions", Transactions)
PIPELINE = web.AppKey("pipeline", Pipeline)
WRITER = web.AppKey("writer", WriterProcess)
INGEST: web.AppKey[GroupCommit[Webhook, Answer]] = web.AppKey("ingest")
HEAD_REVISION = web.AppKey("head_revision", str)
OUTBOX = web.AppKey("outbox", OutboxWorker)
REPLAYER = web.AppKey("replayer", Replayer)
