"""The runners: SQLite's durability setting, write lock and lock-free reads, and PostgreSQL
work that outlives its caller."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from lumen_bridge.config import DatabaseConfig
from lumen_bridge.store import migrate, sqlite
from lumen_bridge.store.database import open_runner
from lumen_bridge.store.sql import batch_read
from tests.conftest import new_pg_database


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
async def test_sqlite_synchronous_is_applied(tmp_path: Path, setting: str, pragma: int) -> None:
    config = DatabaseConfig.model_validate(
        {"url": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "sqlite_synchronous": setting}
    )
    runner = open_runner(config)
    try:
        value = await runner.write(lambda c: c.exec_driver_sql("PRAGMA synchronous").scalar_one())
    finally:
        await runner.close()
    assert value == pragma


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection takes SQLite's write lock now and keeps it for ``seconds``."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN IMMEDIATE")

    def release() -> None:
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


async def test_a_transaction_waits_for_sqlites_write_lock(tmp_path: Path) -> None:
    runner = open_runner(DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    holder = _hold_write_lock(tmp_path / "x.db", 0.3)
    started = time.monotonic()
    try:
        await runner.write(lambda c: c.exec_driver_sql("CREATE TABLE t (x int)"))
    finally:
        holder.join()
        await runner.close()
    assert 0.3 <= time.monotonic() - started < 5  # it got the lock once it was free


async def test_a_transaction_gives_up_on_a_lock_held_too_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_MS", 200)
    runner = open_runner(DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    holder = _hold_write_lock(tmp_path / "x.db", 1.0)
    try:
        with pytest.raises(OperationalError, match="locked"):
            await runner.write(lambda c: c.exec_driver_sql("CREATE TABLE t (x int)"))
    finally:
        holder.join()
        await runner.close()


async def test_a_sqlite_read_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    runner = open_runner(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
    try:
        await runner.write(lambda c: c.exec_driver_sql("CREATE TABLE t (x int)"))
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # the writer process, in the middle of a batch
        other.execute("INSERT INTO t VALUES (1)")
        try:  # a read that waited for the lock would fail after BUSY_TIMEOUT_MS
            rows = await runner.read(lambda c: c.exec_driver_sql("SELECT count(*) FROM t").one())
        finally:
            other.execute("COMMIT")
            other.close()
    finally:
        await runner.close()
    assert tuple(rows) == (0,)  # the writer's uncommitted row is not seen


def test_sqlite_synchronous_rejects_other_values() -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        DatabaseConfig.model_validate({"sqlite_synchronous": "off"})


async def test_a_cancelled_caller_does_not_cut_a_postgres_transaction_short() -> None:
    def slow_create(connection: Connection) -> None:
        time.sleep(0.3)  # on the private loop's thread: the caller is cancelled meanwhile
        connection.exec_driver_sql("CREATE TABLE survived (x int)")

    with new_pg_database() as url:
        runner = open_runner(DatabaseConfig(url=url))
        caller = asyncio.create_task(runner.write(slow_create))
        await asyncio.sleep(0.1)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await runner.close()  # waits for the transaction to end
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(text("SELECT to_regclass('survived') IS NOT NULL"))
        finally:
            await engine.dispose()
    assert found


@pytest.mark.parametrize("serial", [False, True], ids=["pooled", "kept"])
async def test_a_postgres_connection_killed_between_transactions_is_replaced(serial: bool) -> None:
    with new_pg_database() as url:
        runner = open_runner(DatabaseConfig(url=url), serial=serial)
        try:
            pid = await runner.write(
                lambda c: c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            )
            admin = create_async_engine(url)
            async with admin.connect() as connection:
                await connection.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
            await admin.dispose()
            again = await runner.write(
                lambda c: c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            )
        finally:
            await runner.close()
    assert again != pid


async def test_postgres_plans_each_execution_for_its_parameters() -> None:
    with new_pg_database() as url:
        runner = open_runner(DatabaseConfig(url=url))
        try:
            mode = await runner.write(
                lambda c: c.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
            )
        finally:
            await runner.close()
    assert mode == "force_custom_plan"  # a generic plan scanned the table for a key list


async def test_generic_plans_end_with_the_transaction_that_asked_for_them() -> None:
    def after_the_lock(connection: Connection) -> str:
        batch_read.read(connection, [("pager", "a")], datetime.now(UTC))  # a batch's first read
        return str(connection.exec_driver_sql("SHOW plan_cache_mode").scalar_one())

    with new_pg_database() as url:
        await asyncio.to_thread(migrate.upgrade, url)
        runner = open_runner(DatabaseConfig(url=url))
        try:
            inside = await runner.write(after_the_lock)
            after = await runner.write(
                lambda c: c.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
            )
        finally:
            await runner.close()
    assert (inside, after) == ("auto", "force_custom_plan")
