"""Running database work: one transaction per call, retried when it lost a race.

Every access to the database in a bridge process is a plain function of a SQLAlchemy Core
``Connection`` (``work``), handed to the process's :class:`Runner`: :meth:`Runner.write`
for a transaction that writes, :meth:`Runner.read` for one that only reads. The work runs
off the event loop that serves HTTP, so a busy loop does not slow every statement down,
and a transaction that lost a race (PostgreSQL: a serialization failure, a deadlock, the
unique violation of a twin's insert) or found its connection dead is run again from the
start. :func:`lumen_bridge.store.database.open_runner` picks the backend's runner:
:mod:`lumen_bridge.store.sqlite` or :mod:`lumen_bridge.store.postgres`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["Runner", "Work", "is_sqlite"]

T = TypeVar("T")
Work = Callable[[Connection], T]
"""Database work: a function of a connection, run inside one transaction."""

# PostgreSQL: serialization failure, deadlock, unique violation (a twin won the race).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
MAX_TRANSACTION_TRIES = 5


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite backend."""
    return url.startswith("sqlite")


def is_retryable(exc: DBAPIError) -> bool:
    """Whether ``exc`` means the transaction lost a race and may simply be run again."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RETRYABLE_SQLSTATES


class Runner(abc.ABC):
    """Runs work in transactions on threads of its own; one per database and process."""

    def __init__(self, threads: int, name: str) -> None:
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in a write transaction and commit; return its result.

        A caller cancelled meanwhile does not cut a transaction short: it ends (commit or
        rollback) on its thread.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self.write_blocking, work)

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` in a transaction that only reads (it never waits for a writer)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._retried, work, False)

    def write_blocking(self, work: Work[T]) -> T:
        """:meth:`write` for a thread that may wait: one of the runner's, or the writer
        process's main thread."""
        return self._retried(work, True)

    def _retried(self, work: Work[T], write: bool) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._transaction(work, write)
            except DBAPIError as exc:
                again = is_retryable(exc) or exc.connection_invalidated
                if attempt >= MAX_TRANSACTION_TRIES or not again:
                    raise

    @abc.abstractmethod
    def _transaction(self, work: Work[T], write: bool) -> T:
        """Run ``work`` once in one transaction, on the calling thread."""

    async def close(self) -> None:
        """Let running work end, then release the threads and the connections."""
        await asyncio.to_thread(self._threads.shutdown, wait=True)
