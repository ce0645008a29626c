"""Engine creation: SQLite in WAL mode with exclusive write transactions, or asyncpg."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from lumen_bridge.config import DatabaseConfig

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names the embedded SQLite backend."""
    return url.startswith("sqlite")


def create_engine(config: DatabaseConfig) -> AsyncEngine:
    """Create the async engine for ``config``.

    SQLite gets one connection (SQLite has one writer anyway), WAL, and ``BEGIN
    IMMEDIATE`` so that a transaction holds the write lock from its start: two
    processes on one file then serialize instead of failing with "database is locked".
    """
    if not is_sqlite(config.url):
        return create_async_engine(
            config.url, pool_size=config.pool_size, max_overflow=0, pool_pre_ping=True
        )
    engine = create_async_engine(config.url, pool_size=1, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
