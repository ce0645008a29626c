"""Group commit: webhooks that arrive together are decided and committed together.

Each webhook handler submits its payload and waits; a writer task takes everything
waiting, runs the pipeline over it in one transaction (one commit, one fsync, a
handful of set-based statements for the lot) and then releases every handler with
its own answer. The answer still comes only after the commit. A batch that fails for
a reason other than the database being unreachable is retried one webhook at a time,
so one bad delivery cannot hold the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError

from lumen_bridge.payload import WebhookPayload
from lumen_bridge.pipeline import Pipeline, Summary

log = structlog.get_logger("lumen_bridge.pipeline")

# Errors that every webhook of the batch would meet alone too: no point in retrying singly.
_DATABASE_DOWN = (OperationalError, InterfaceError, OSError, TimeoutError)


@dataclass
class _Waiting:
    payload: WebhookPayload
    received_at: datetime
    answer: asyncio.Future[Summary] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """Batches concurrent webhooks into shared transactions, run by ``writers`` tasks."""

    def __init__(self, pipeline: Pipeline, *, writers: int = 1, max_alerts: int = 20_000) -> None:
        self.pipeline = pipeline
        self.writers = writers
        self.max_alerts = max_alerts
        self._waiting: deque[_Waiting] = deque()
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the writer tasks."""
        self._tasks = [asyncio.create_task(self._writer()) for _ in range(self.writers)]

    async def stop(self) -> None:
        """Stop the writers once every submitted webhook has its answer."""
        while self._waiting or self._in_flight:  # noqa: ASYNC110 - a rare, short shutdown wait
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def submit(self, payload: WebhookPayload, received_at: datetime) -> Summary:
        """Decide and commit ``payload``; return its answer after the commit."""
        waiting = _Waiting(payload, received_at)
        self._waiting.append(waiting)
        self._wake.set()
        return await waiting.answer

    def _take(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        alerts = 0
        while self._waiting and (
            not batch or alerts + len(self._waiting[0].payload.alerts) <= self.max_alerts
        ):
            item = self._waiting.popleft()
            batch.append(item)
            alerts += len(item.payload.alerts)
        return batch

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            batch = self._take()
            if not self._waiting:
                self._wake.clear()
            if batch:
                self._in_flight += 1
                try:
                    await self._commit(batch)
                finally:
                    self._in_flight -= 1

    async def _commit(self, batch: Sequence[_Waiting]) -> None:
        try:
            summaries = await self.pipeline.run_many([(w.payload, w.received_at) for w in batch])
        except _DATABASE_DOWN as exc:
            for waiting in batch:
                _answer(waiting, exc)
        except Exception as exc:
            if len(batch) == 1:
                _answer(batch[0], exc)
                return
            log.warning("batch failed, retrying its webhooks one by one", error=repr(exc))
            for waiting in batch:
                await self._commit([waiting])
        else:
            for waiting, summary in zip(batch, summaries, strict=True):
                _answer(waiting, summary)
            log.debug("batch committed", webhooks=len(batch))


def _answer(waiting: _Waiting, result: Summary | Exception) -> None:
    """Release a waiting handler (unless its client went away and it was cancelled)."""
    if waiting.answer.done():
        return
    if isinstance(result, Exception):
        waiting.answer.set_exception(result)
    else:
        waiting.answer.set_result(result)
