"""Running database work: one transaction per call, retried when it lost a race.

Every access to the database in a bridge process is a plain function of a SQLAlchemy Core
``Connection`` (``work``), handed to the process's :class:`Runner`: :meth:`Runner.write`
for a transaction that writes, :meth:`Runner.read` for one that only reads. The work runs
off the event loop that serves HTTP, so a busy loop does not slow every statement down,
and a transaction that lost a race (PostgreSQL: a serialization failure, a deadlock, the
unique violation of a twin's insert) or found its connection dead is run again from the
start. :func:`lumen_bridge.store.database.open_runner` picks the backend's runner:
:mod:`lumen_bridge.store.sqlite` or :mod:`lumen_bridge.store.postgres`.

The runner records how its last write transaction ended (:attr:`Runner.last_write`), so
that ``/readyz`` says "not ready" while the database refuses writes (a full disk, a server
gone). After a failure, only a transaction that changed something counts as a recovery:
the delivery worker's idle claims write nothing, and would otherwise report a database
that cannot store a webhook as ready every few seconds.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

__all__ = ["DATABASE_ERRORS", "LastOutcome", "Runner", "Work", "describe_error", "is_sqlite"]

T = TypeVar("T")
Work = Callable[[Connection], T]
"""Database work: a function of a connection, run inside one transaction."""

# PostgreSQL: serialization failure, deadlock, unique violation (a twin won the race).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
MAX_TRANSACTION_TRIES = 5
MAX_ERROR_CHARS = 300

DATABASE_ERRORS = (SQLAlchemyError, OSError)
"""What a database call raises when the database cannot do it (``OSError``: unreachable)."""


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite backend."""
    return url.startswith("sqlite")


def is_retryable(exc: DBAPIError) -> bool:
    """Whether ``exc`` means the transaction lost a race and may simply be run again."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RETRYABLE_SQLSTATES


def describe_error(exc: BaseException) -> str:
    """Why a database call failed, for a log line or ``/readyz``: the driver's message, never
    the statement nor its parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR_CHARS]


class LastOutcome:
    """How the last try of something ended: ``error`` is None after a success (or before any
    try), else why it failed."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: str | None = None

    def succeeded(self) -> None:
        """The last try succeeded."""
        self.error = None

    def failed(self, exc: BaseException) -> None:
        """The last try failed with ``exc``."""
        self.error = describe_error(exc)


class Runner(abc.ABC):
    """Runs work in transactions on threads of its own; one per database and process."""

    def __init__(self, threads: int, name: str) -> None:
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix=name)
        self.last_write = LastOutcome()
        """How the last write transaction ended (``/readyz`` reports a failure)."""

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
        process's main thread. Its outcome goes to :attr:`last_write`."""
        recovering = self.last_write.error is not None
        changed = False

        def checked(connection: Connection) -> T:  # after a failure: did this one write?
            nonlocal changed
            before = self._changes(connection)
            result = work(connection)
            changed = self._changes(connection) != before
            return result

        try:
            result = self._retried(checked if recovering else work, True)
        except DATABASE_ERRORS as exc:
            self.last_write.failed(exc)
            raise
        if changed:
            self.last_write.succeeded()
        return result

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

    @abc.abstractmethod
    def _changes(self, connection: Connection) -> object:
        """A mark of what the transaction on ``connection`` changed so far: it differs
        before and after work that changed a row."""

    async def close(self) -> None:
        """Let running work end, then release the threads and the connections."""
        await asyncio.to_thread(self._threads.shutdown, wait=True)
