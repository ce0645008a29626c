"""The embedded backend: SQLite in WAL mode, written in exclusive transactions on one thread.

Every write transaction is ``BEGIN IMMEDIATE``: it holds the write lock from its start, so
two connections (or processes: the serving one and its writer) take turns instead of
failing with "database is locked". SQLite's own wait for the lock sleeps 1, 2, 5, 10, ...
ms between tries (under load the writer process slept 14 ms on average for locks held
about a millisecond), so ``BEGIN IMMEDIATE`` is tried again after pauses of 0.1 ms,
doubling up to 2 ms, for :data:`BUSY_TIMEOUT_MS` at most. A read transaction is a plain
(deferred) ``BEGIN``: in WAL mode it never waits for a writer.

``synchronous``: with ``normal`` each commit reaches the log before the answer and the log
is synced at checkpoints, so a crash or kill of the process loses nothing committed, while
a power failure or an OS crash may lose the last commits (never consistency); ``full``
syncs the log at every commit as well, at the cost of an fsync per batch.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from lumen_bridge.config import DatabaseConfig
from lumen_bridge.store.runner import Runner, Work
from lumen_bridge.store.types import JSON_COLUMNS

__all__ = ["SqliteRunner"]

BUSY_TIMEOUT_MS = 10_000
LOCK_POLL = (0.0001, 0.002)  # first and longest pause (s) between tries for the write lock
_READ = "lumen_read"  # Connection.info key: the next BEGIN opens a read transaction
T = TypeVar("T")


class SqliteRunner(Runner):
    """One connection, kept open, used by one thread: SQLite has one writer anyway."""

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(1, "lumen-sqlite")
        url = config.url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1)
        self._engine = create_engine(
            url,
            pool_size=1,
            max_overflow=0,
            connect_args={"check_same_thread": False},
            **JSON_COLUMNS,
        )
        _set_up(self._engine, config.sqlite_synchronous)
        self._connection: Connection | None = None  # used by the runner's thread only

    def _transaction(self, work: Work[T], write: bool) -> T:
        if self._connection is None:  # kept open: no pool checkout and reset per batch
            self._connection = self._engine.connect()
        self._connection.info[_READ] = not write
        with self._connection.begin():
            return work(self._connection)

    def _changes(self, connection: Connection) -> object:
        """SQLite's count of rows changed on this connection since it opened."""
        dbapi_connection = connection.connection.dbapi_connection
        assert isinstance(dbapi_connection, sqlite3.Connection)
        return dbapi_connection.total_changes

    async def close(self) -> None:
        """Let running work end, then close the connection."""
        await super().close()
        if self._connection is not None:
            self._connection.close()
        self._engine.dispose()


def _set_up(engine: Engine, synchronous: str) -> None:
    """WAL, ``synchronous``, foreign keys, and our own BEGIN (see the module docstring)."""
    _adapt_at_once()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=0")  # we poll for the write lock ourselves
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        _begin(connection.connection.dbapi_connection, read=connection.info.get(_READ, False))


def _adapt_at_once() -> None:
    """Let pysqlite bind ``None`` and booleans without its slow path.

    It binds an int, a float or a str as it is; any other value it looks up among its
    adapters, and then asks the protocol and the value themselves to adapt it (two failed
    attribute lookups): 0.85 to 0.9 µs a parameter for ``None`` or a bool, against 0.13 µs
    for an int, and a new incident binds dozens of them. With these adapters registered
    the lookup finds them at once (0.24 and 0.31 µs) and binds what it bound before: NULL,
    and a bool as the integer it is. They are process-wide, and change no value bound.
    """
    sqlite3.register_adapter(type(None), _same)
    sqlite3.register_adapter(bool, int)


def _same(value: None) -> None:
    return value


def _begin(dbapi_connection: Any, *, read: bool) -> None:
    """``BEGIN`` for a read; ``BEGIN IMMEDIATE`` for a write, tried until the write lock is
    free."""
    if read:
        dbapi_connection.execute("BEGIN")
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = LOCK_POLL[0]
    while True:
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        time.sleep(pause)
        pause = min(2 * pause, LOCK_POLL[1])
