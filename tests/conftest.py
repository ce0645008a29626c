"""Shared fixtures: a fake clock, databases (SQLite file and real PostgreSQL), app clients."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from lumen_bridge.app import create_app
from lumen_bridge.config import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_DSN = os.environ.get("LUMEN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ALERT_TOKEN = "alert-token-for-tests"
ADMIN_TOKEN = "admin-token-for-tests"
_TABLES = (
    "delivery_attempts, outbox_items, outbox, alert_events, incidents, silences, audit_log,"
    " signing_keys"
)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fixture(name: str) -> Any:
    """A real Alertmanager capture from tests/fixtures."""
    return json.loads((FIXTURES / name).read_text())


def payload(
    status: str = "firing",
    *,
    fingerprint: str = "f00d",
    starts_at: str = "2026-11-26T11:53:38.159278263Z",
    labels: dict[str, str] | None = None,
    n: int = 1,
) -> dict[str, Any]:
    """A version-4 payload built from the real page capture, with ``n`` alerts."""
    body = copy.deepcopy(fixture("firing_page.json"))
    template = body["alerts"][0]
    alerts = []
    for i in range(n):
        alert = copy.deepcopy(template)
        alert["status"] = status
        alert["fingerprint"] = fingerprint if n == 1 else f"{fingerprint}-{i}"
        alert["startsAt"] = starts_at
        alert["endsAt"] = "2026-11-26T12:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z"
        alert["labels"] = {**template["labels"], **(labels or {}), "n": str(i)}
        alerts.append(alert)
    body["alerts"] = alerts
    body["status"] = status
    return body


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextlib.contextmanager
def new_pg_database() -> Iterator[str]:
    """Create a PostgreSQL database for the block's use; drop it afterwards."""
    name = f"lumen_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def admin(sql: str) -> None:  # in a thread: the caller may be inside an event loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, run(sql)).result()

    admin(f'CREATE DATABASE "{name}"')
    host = PG_ADMIN_DSN.split("@", 1)[1].rsplit("/", 1)[0]
    user = PG_ADMIN_DSN.split("//", 1)[1].split("@", 1)[0]
    try:
        yield f"postgresql+asyncpg://{user}@{host}/{name}"
    finally:
        admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database shared by the session's tests (truncated by ``db_url``)."""
    with new_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test that takes this runs on an empty SQLite file and on real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}"
        return
    url: str = request.getfixturevalue("pg_database")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('incidents') IS NOT NULL"))
            if exists:
                await connection.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    yield url


def make_settings(db_url: str, **env: str) -> Settings:
    """The shipped configuration, read with a test environment."""
    environ = {
        "LUMEN_DATABASE_URL": db_url,
        "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
        "LUMEN_ADMIN_TOKEN": ADMIN_TOKEN,
        **env,
    }
    return load_settings(None, environ)


AppFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SERVER_SHUTDOWN_TIMEOUT = 5.0  # seconds (aiohttp's default, 60 s, is for production)


@pytest.fixture
def make_client(aiohttp_client: Any, db_url: str, clock: FakeClock) -> AppFactory:
    """Start an app on the test database; keyword arguments become environment variables.

    The outbox worker runs only with ``deliver=True``; otherwise the outbox just fills.
    """

    async def factory(*, deliver: bool = False, **env: str) -> TestClient[Any, Any]:
        server = TestServer(create_app(make_settings(db_url, **env), clock=clock, deliver=deliver))
        # aiohttp's server shutdown waits 60 s for a handler still in progress, then as long
        # again after cancelling it; here it waits 5 s at most.
        await server.start_server(shutdown_timeout=SERVER_SHUTDOWN_TIMEOUT)
        client: TestClient[Any, Any] = await aiohttp_client(server)
        return client

    return factory


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client()


def auth(token: str = ALERT_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(client: TestClient[Any, Any], body: Any) -> dict[str, int]:
    """POST a webhook that must succeed; return the answer."""
    response = await client.post("/webhook", json=body, headers=auth())
    assert response.status == 200, await response.text()
    answer: dict[str, int] = await response.json()
    return answer
