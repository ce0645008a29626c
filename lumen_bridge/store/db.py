"""Engines and transactions: SQLite in WAL mode with exclusive write transactions, or asyncpg."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pydantic_core import to_json
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from lumen_bridge.config import DatabaseConfig

SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL: serialization failure, deadlock, unique violation (a twin won the race).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
MAX_TRANSACTION_TRIES = 5
T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite backend."""
    return url.startswith("sqlite")


def _sqlite_setup(engine: Engine, synchronous: str) -> None:
    """WAL, ``synchronous`` (see below), and ``BEGIN IMMEDIATE`` so a transaction holds the
    write lock from its start: two connections (or processes) then take turns instead of
    failing with "database is locked".

    In WAL mode, ``normal`` writes each commit to the log before the answer and syncs the
    log at checkpoints: a crash or kill of the process loses nothing committed; a power
    failure or an OS crash may lose the last commits (never consistency).
    ``full`` syncs the log at every commit as well, at the cost of an fsync per batch.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _json_text(value: object) -> str:
    """JSON columns are written by pydantic's serializer (in Rust: several times faster)."""
    return to_json(value).decode()


def create_engine(config: DatabaseConfig) -> AsyncEngine:
    """Create the async engine for ``config`` (SQLite: one connection, it has one writer)."""
    if not is_sqlite(config.url):
        return create_async_engine(
            config.url,
            pool_size=config.pool_size,
            max_overflow=0,
            pool_pre_ping=True,
            json_serializer=_json_text,
        )
    engine = create_async_engine(
        config.url, pool_size=1, max_overflow=0, json_serializer=_json_text
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


class Transactions:
    """Runs synchronous database work in one transaction, retried when it lost a race.

    The work gets a Core connection. On PostgreSQL it runs on the async engine
    (``AsyncConnection.run_sync``). On
    SQLite, where every statement through aiosqlite is a round trip to its thread and
    back through a busy event loop, the whole transaction runs in one worker thread on
    a synchronous connection: one round trip for the lot.
    """

    def __init__(self, config: DatabaseConfig, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if is_sqlite(config.url):
            url = config.url.replace("sqlite+aiosqlite", "sqlite+pysqlite", 1)
            self._sync = create_sync_engine(
                url,
                pool_size=1,
                max_overflow=0,
                connect_args={"check_same_thread": False},
                json_serializer=_json_text,
            )
            _sqlite_setup(self._sync, config.sqlite_synchronous)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="lumen-sqlite")

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction and commit; return its result."""
        for attempt in range(1, MAX_TRANSACTION_TRIES + 1):
            try:
                if self._sync is not None:
                    loop = asyncio.get_running_loop()
                    return await loop.run_in_executor(self._thread, self._run_sync, work)
                async with self.engine.begin() as connection:
                    return await connection.run_sync(work)
            except DBAPIError as exc:
                if attempt == MAX_TRANSACTION_TRIES or not is_retryable(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_sync(self, work: Callable[[Connection], T]) -> T:
        assert self._sync is not None
        with self._sync.begin() as connection:
            return work(connection)

    def close(self) -> None:
        """Release the SQLite thread and connection."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
