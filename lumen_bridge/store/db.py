"""Engines and transactions: SQLite in WAL mode with exclusive write transactions, or asyncpg."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic_core import from_json, to_json
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from lumen_bridge.config import DatabaseConfig

SQLITE_BUSY_TIMEOUT_MS = 10_000
LOCK_POLL = (0.0001, 0.002)  # first and longest pause (s) between tries for the write lock
# PostgreSQL: serialization failure, deadlock, unique violation (a twin won the race).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
MAX_TRANSACTION_TRIES = 5
T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite backend."""
    return url.startswith("sqlite")


def _sqlite_setup(engine: Engine, synchronous: str, *, poll_lock: bool = False) -> None:
    """WAL, ``synchronous`` (see below), and ``BEGIN IMMEDIATE`` so a transaction holds the
    write lock from its start: two connections (or processes) then take turns instead of
    failing with "database is locked".

    SQLite's own wait for the lock sleeps 1, 2, 5, 10, ... ms between tries: under load
    the writer process slept 14 ms on average for locks held about a millisecond. With
    ``poll_lock`` (for connections whose thread may sleep) ``BEGIN IMMEDIATE`` is tried
    again after pauses of 0.1 ms, doubling up to 2 ms, for the same 10 s at most.

    In WAL mode, ``normal`` writes each commit to the log before the answer and syncs the
    log at checkpoints: a crash or kill of the process loses nothing committed; a power
    failure or an OS crash may lose the last commits (never consistency).
    ``full`` syncs the log at every commit as well, at the cost of an fsync per batch.
    """
    _adapt_at_once()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={0 if poll_lock else SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if poll_lock:
            _begin_polling(connection.connection.dbapi_connection)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


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


def _begin_polling(dbapi_connection: Any) -> None:
    """``BEGIN IMMEDIATE`` on a pysqlite connection, tried until the write lock is free."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
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


def json_text(value: object) -> str:
    """JSON columns are written by pydantic's serializer (in Rust: several times faster than
    the standard library's); every engine reads them with its parser, ``from_json``."""
    return to_json(value).decode()


_JSON_COLUMNS: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": from_json}
"""How every engine of the bridge writes and reads JSON columns."""


def create_engine(config: DatabaseConfig, *, pre_ping: bool = True) -> AsyncEngine:
    """Create the async engine for ``config`` (SQLite: one connection, it has one writer).

    ``pre_ping`` tests each PostgreSQL connection as it leaves the pool (a round trip).
    PostgreSQL plans every execution of a prepared statement for its own parameters:
    its generic plan for "these 500 keys" (chosen before autovacuum has analyzed a
    table that just grew) scanned the whole table, 40 times slower than an index scan.
    """
    if not is_sqlite(config.url):
        return create_async_engine(
            config.url,
            pool_size=config.pool_size,
            max_overflow=0,
            pool_pre_ping=pre_ping,
            connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
            **_JSON_COLUMNS,
        )
    engine = create_async_engine(
        config.url,
        pool_size=1,
        max_overflow=0,
        **_JSON_COLUMNS,
    )
    _sqlite_setup(engine.sync_engine, config.sqlite_synchronous)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def is_retryable(exc: DBAPIError) -> bool:
    """Whether ``exc`` means the transaction lost a race and may simply be run again."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RETRYABLE_SQLSTATES


def _again(exc: DBAPIError, attempt: int) -> bool:
    """Whether a transaction that failed with ``exc`` on try ``attempt`` is run again."""
    return attempt < MAX_TRANSACTION_TRIES and (is_retryable(exc) or exc.connection_invalidated)


class Transactions:
    """Runs synchronous database work in one transaction, retried when it lost a race.

    The work gets a Core connection and runs off the event loop that serves HTTP, so
    that a busy loop does not slow every statement down:

    - SQLite: in one worker thread, on a synchronous pysqlite connection (SQLite has
      one writer anyway; every write of the process goes through here).
    - PostgreSQL: on a private event loop in its own thread, with its own asyncpg pool
      of ``pool_size`` connections; each statement's round trip is then answered at
      once instead of waiting its turn among the HTTP loop's callbacks. :meth:`run`
      waits for it on one of ``pool_size`` threads, as :meth:`run_blocking` does.

    ``serial`` promises one transaction at a time (the writer process's batches): then
    PostgreSQL's connection is kept between transactions too, as SQLite's always is,
    without the pool's checkout and return (0.4 ms of a 5 ms batch of 16 webhooks).
    """

    def __init__(self, config: DatabaseConfig, *, serial: bool = False) -> None:
        self._serial = serial
        self._sync: Engine | None = None
        self._connection: Connection | None = None  # SQLite's, used by its thread only
        self._kept: AsyncConnection | None = None  # PostgreSQL's when serial
        self._thread: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._engine: AsyncEngine | None = None
        if is_sqlite(config.url):
            url = config.url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1)
            self._sync = create_sync_engine(
                url,
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
                **_JSON_COLUMNS,
            )
            _sqlite_setup(self._sync, config.sqlite_synchronous, poll_lock=True)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="lumen-sqlite")
        else:
            self._loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(
                target=self._loop.run_forever, name="lumen-postgres", daemon=True
            )
            self._loop_thread.start()
            self._thread = ThreadPoolExecutor(config.pool_size, thread_name_prefix="lumen-pg-wait")
            # Connects on first use, on that loop. No ping per transaction: a connection
            # found dead (the server restarted) fails its transaction, which is run again.
            self._engine = create_engine(config, pre_ping=False)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction and commit; return its result.

        A caller cancelled meanwhile does not cut a transaction short: it ends (commit or
        rollback) on its thread.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self.run_blocking, work)

    def run_blocking(self, work: Callable[[Connection], T]) -> T:
        """:meth:`run` for a thread that may wait: one of :meth:`run`'s, or the writer
        process's. A transaction that lost a race, or found its connection dead, is run
        again from the start."""
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._sync is not None:
                    return self._run_sync(work)
                assert self._loop is not None
                done = asyncio.run_coroutine_threadsafe(self._run_async(work), self._loop)
                return done.result()
            except DBAPIError as exc:
                if not _again(exc, attempt):
                    raise

    def _run_sync(self, work: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        if self._connection is None:  # kept open: no pool checkout and reset per batch
            self._connection = self._sync.connect()
        with self._connection.begin():
            return work(self._connection)

    async def _run_async(self, work: Callable[[Connection], T]) -> T:
        assert self._engine is not None
        if not self._serial:
            async with self._engine.begin() as connection:
                return await connection.run_sync(work)
        if self._kept is None:
            self._kept = await self._engine.connect()
        try:
            async with self._kept.begin():
                return await self._kept.run_sync(work)
        except DBAPIError as exc:
            if exc.connection_invalidated:  # the next try connects again
                await self._kept.close()
                self._kept = None
            raise

    async def _drain(self) -> None:
        """On the private loop: let running transactions end, then close the pool."""
        this = asyncio.current_task()
        await asyncio.gather(
            *(t for t in asyncio.all_tasks() if t is not this), return_exceptions=True
        )
        if self._kept is not None:
            await self._kept.close()
        assert self._engine is not None
        await self._engine.dispose()

    async def close(self) -> None:
        """Release the thread and the connections."""
        if self._thread is not None:
            await asyncio.to_thread(self._thread.shutdown, wait=True)
        if self._connection is not None:
            self._connection.close()
        if self._sync is not None:
            self._sync.dispose()
        if self._loop is not None:
            drained = asyncio.run_coroutine_threadsafe(self._drain(), self._loop)
            await asyncio.wrap_future(drained)
            self._loop.call_soon_threadsafe(self._loop.stop)
            assert self._loop_thread is not None
            await asyncio.to_thread(self._loop_thread.join)
            self._loop.close()
