"""A batch's first read: its current incidents, locked, and the silences in force."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import Connection, insert

from lumen_bridge.config import DatabaseConfig
from lumen_bridge.domain.alertmanager import Alert
from lumen_bridge.store import incidents, migrate
from lumen_bridge.store.database import open_runner
from lumen_bridge.store.models import Silence
from lumen_bridge.store.sql import batch_read
from tests.conftest import new_pg_database

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def alert(identity: str) -> Alert:
    return Alert.model_validate(
        {
            "status": "firing",
            "labels": {"alertname": "StatusDashboardDown", "instance": identity},
            "annotations": {"summary": "down"},
            "startsAt": NOW.isoformat(),
            "fingerprint": identity,
        }
    )


def silence(identity: str, starts: timedelta, ends: timedelta) -> dict[str, object]:
    return {
        "id": f"s-{identity}",
        "matchers": [{"name": "instance", "value": identity, "isRegex": False, "isEqual": True}],
        "starts_at": NOW + starts,
        "ends_at": NOW + ends,
        "created_by": "test",
        "created_at": NOW,
        "updated_at": NOW,
    }


def seed(connection: Connection) -> None:
    """Current incidents for a (pager) and b (tickets), a retired one for c (pager); one
    active and one expired silence."""
    records = [
        incidents.new_record(r, alert(i), NOW, "")
        for r, i in [("pager", "a"), ("tickets", "b"), ("pager", "c")]
    ]
    records[2].is_current = False
    incidents.save(connection, records)
    connection.execute(
        insert(Silence),
        [
            silence("on", -timedelta(hours=1), timedelta(hours=1)),
            silence("off", -timedelta(hours=2), -timedelta(hours=1)),
        ],
    )


async def test_a_batch_reads_its_current_incidents_and_the_active_silences(db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, db_url)
    runner = open_runner(DatabaseConfig(url=db_url))
    try:
        await runner.write(seed)
        keys = [("pager", "a"), ("tickets", "b"), ("pager", "c"), ("tickets", "a"), ("pager", "a")]
        batch = await runner.write(lambda c: batch_read.read(c, keys, NOW))
        nothing = await runner.write(lambda c: batch_read.read(c, [("pager", "x")], NOW))
    finally:
        await runner.close()
    assert sorted(batch.current) == [("pager", "a"), ("tickets", "b")]
    assert batch.current[("tickets", "b")].labels == {
        "alertname": "StatusDashboardDown",
        "instance": "b",
    }
    assert batch.current[("pager", "a")].starts_at == NOW  # timestamps come back in UTC
    assert [m[0]["value"] for m in batch.silences] == ["on"]
    assert nothing.current == {}
    assert [m[0]["value"] for m in nothing.silences] == ["on"]  # even with no incident found


@pytest.mark.postgres
async def test_on_postgres_the_incidents_stay_locked_until_the_batch_ends() -> None:
    async def try_locks(url: str, identities: list[str]) -> list[str]:
        """From a connection of its own: which current incidents another transaction holds."""
        other = await asyncpg.connect(url.replace("+asyncpg", ""))
        found = []
        try:
            for identity in identities:
                try:
                    async with other.transaction():
                        await other.execute(
                            "SELECT 1 FROM incidents WHERE identity = $1 AND is_current "
                            "FOR UPDATE NOWAIT",
                            identity,
                        )
                    found.append("free")
                except asyncpg.LockNotAvailableError:
                    found.append("locked")
        finally:
            await other.close()
        return found

    def batch(connection: Connection, url: str) -> list[str]:
        batch_read.read(connection, [("pager", "a")], NOW)
        with ThreadPoolExecutor(1) as thread:  # this one runs the transaction's loop
            return thread.submit(asyncio.run, try_locks(url, ["a", "b"])).result()

    def new(connection: Connection) -> None:
        keys = [("pager", "a"), ("tickets", "b")]
        incidents.save(connection, [incidents.new_record(r, alert(i), NOW, "") for r, i in keys])

    with new_pg_database() as url:
        await asyncio.to_thread(migrate.upgrade, url)
        runner = open_runner(DatabaseConfig(url=url))
        try:
            await runner.write(new)
            during = await runner.write(lambda c: batch(c, url))
        finally:
            await runner.close()
        after = await try_locks(url, ["a"])
    assert during == ["locked", "free"]
    assert after == ["free"]
