"""Group commit: work items that arrive together are committed in one transaction.

Each caller submits an item and waits; a writer task takes everything waiting, hands
the lot to ``run_many`` (one transaction, one commit, a handful of set-based
statements) and then releases every caller with its own result. The answer still
comes only after the commit. A batch that fails for a reason other than the database
being unreachable is retried one item at a time, so one bad item cannot hold the
others back.

Webhooks go through one (:mod:`lumen_bridge.ingest`: the answer is sent after the
commit), and so do the delivery worker's results (:mod:`lumen_bridge.delivery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError

log = structlog.get_logger("lumen_bridge.group_commit")

T = TypeVar("T")
R = TypeVar("R")

# Errors that every item of the batch would meet alone too: no point in retrying singly.
_DATABASE_DOWN = (OperationalError, InterfaceError, OSError, TimeoutError)
# A batch of this many items means they arrive faster than one commit at a time takes them.
SATURATED_BATCH = 8


@dataclass(slots=True)
class _Waiting(Generic[T, R]):
    item: T
    answer: asyncio.Future[R]


class GroupCommit(Generic[T, R]):
    """Batches concurrent items into shared transactions, one at a time.

    One writer per process: items that arrive while a batch commits make the next,
    larger batch (several writers made smaller batches that waited on each other's row
    locks: slower on PostgreSQL, pointless on SQLite). ``size`` weighs an item (a
    webhook: its body's bytes); a batch holds at most ``max_size`` of weight, or one item
    when that alone is heavier.
    """

    def __init__(
        self,
        name: str,
        run_many: Callable[[Sequence[T]], Awaitable[list[R]]],
        *,
        size: Callable[[T], int] = lambda _: 1,
        max_size: int = 20_000,
    ) -> None:
        self.name = name
        self.run_many = run_many
        self.size = size
        self.max_size = max_size
        self._waiting: deque[_Waiting[T, R]] = deque()
        self._in_flight = False
        self._saturated_at = -float("inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether items are waiting or being committed."""
        return bool(self._waiting) or self._in_flight

    def saturated(self, within: float) -> bool:
        """Whether a batch of :data:`SATURATED_BATCH` items or more was taken in the last
        ``within`` seconds: items pile up while each commit runs."""
        return time.monotonic() - self._saturated_at < within

    def start(self) -> None:
        """Start the writer task."""
        self._task = asyncio.create_task(self._writer(), name=f"{self.name}-writer")

    async def stop(self) -> None:
        """Stop the writer once every submitted item has its answer."""
        while self.busy:  # noqa: ASYNC110 - a rare, short shutdown wait
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, item: T) -> R:
        """Commit ``item`` with whatever else is waiting; return its result after the commit."""
        waiting: _Waiting[T, R] = _Waiting(item, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        self._wake.set()
        return await waiting.answer

    def _take(self) -> list[_Waiting[T, R]]:
        batch: list[_Waiting[T, R]] = []
        weight = 0
        while self._waiting and (
            not batch or weight + self.size(self._waiting[0].item) <= self.max_size
        ):
            waiting = self._waiting.popleft()
            batch.append(waiting)
            weight += self.size(waiting.item)
        return batch

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            batch = self._take()
            if len(batch) >= SATURATED_BATCH:
                self._saturated_at = time.monotonic()
            if not self._waiting:
                self._wake.clear()
            if batch:
                self._in_flight = True
                try:
                    await self._commit(batch)
                finally:
                    self._in_flight = False

    async def _commit(self, batch: Sequence[_Waiting[T, R]]) -> None:
        try:
            results = await self.run_many([w.item for w in batch])
        except _DATABASE_DOWN as exc:
            for waiting in batch:
                _answer(waiting, exc)
        except Exception as exc:
            if len(batch) == 1:
                _answer(batch[0], exc)
                return
            log.warning(
                "batch failed, retrying its items one by one", batch=self.name, error=repr(exc)
            )
            for waiting in batch:
                await self._commit([waiting])
        else:
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.answer.done():  # a cancelled caller: its client went away
                    waiting.answer.set_result(result)
            log.debug("batch committed", batch=self.name, items=len(batch))


def _answer(waiting: _Waiting[T, R], exc: Exception) -> None:
    """Fail a waiting caller (unless it was cancelled meanwhile: its client went away)."""
    if not waiting.answer.done():
        waiting.answer.set_exception(exc)
