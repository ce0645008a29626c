"""`lumen-bridge` as operators run it: real processes, real ports, real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lumen_bridge.store import migrate
from lumen_bridge.store.models import Base
from tests.conftest import ALERT_TOKEN, payload
from tests.procs import BRIDGE, free_port, serve


def test_refuses_public_address_without_tokens(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BRIDGE, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "LUMEN_ALERT_TOKEN": "x", "LUMEN_ADMIN_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "LUMEN_ADMIN_TOKEN" in result.stderr and "--insecure" in result.stderr


def test_insecure_overrides_and_serves_from_any_directory(tmp_path: Path) -> None:
    env = {"LUMEN_ALERT_TOKEN": "", "LUMEN_ADMIN_TOKEN": ""}
    with serve(tmp_path, env, "--host", "0.0.0.0", "--insecure") as base:

        async def check() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/readyz") as ready:
                    assert ready.status == 200
                async with http.post(f"{base}/webhook", json=payload()) as answer:
                    assert (await answer.json())["queued"] == 1

        asyncio.run(check())
    assert (tmp_path / "lumen-bridge.db").exists()  # the embedded default, in the cwd


def test_db_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run(
        [*BRIDGE, "db", "upgrade"],
        cwd=tmp_path,
        env={**os.environ, "LUMEN_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "is at revision 0004" in result.stdout


def test_db_upgrade_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*BRIDGE, "db", "upgrade"],
        cwd=tmp_path,
        env={**os.environ, "LUMEN_DATABASE_URL": "postgresql+asyncpg://u:secretpw@127.0.0.1:9/x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot migrate postgresql+asyncpg://u:***@127.0.0.1:9/x" in result.stderr
    assert "secretpw" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_two_serve_processes_on_one_postgres_notify_once(tmp_path: Path, pg_database: str) -> None:
    """Twins split between two replicas: each alert is queued exactly once."""
    env = {
        "LUMEN_DATABASE_URL": pg_database,
        "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
        "LUMEN_ADMIN_TOKEN": "admin",
    }
    body = payload(n=4, fingerprint=f"twin-{time.time_ns()}")
    with serve(tmp_path, env) as first, serve(tmp_path, env) as second:

        async def race() -> list[dict[str, Any]]:
            headers = {"Authorization": f"Bearer {ALERT_TOKEN}"}
            async with aiohttp.ClientSession(headers=headers) as http:

                async def one(base: str) -> dict[str, Any]:
                    async with http.post(f"{base}/webhook", json=body) as response:
                        assert response.status == 200
                        answer: dict[str, Any] = await response.json()
                        return answer

                return await asyncio.gather(*(one((first, second)[i % 2]) for i in range(20)))

        answers = asyncio.run(race())
    assert sum(a["queued"] for a in answers) == 4
    assert sum(a["deduplicated"] for a in answers) == 76


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_match_the_models(db_url: str) -> None:
    """The shipped migrations build exactly the schema the models describe."""
    await asyncio.to_thread(migrate.upgrade, db_url)
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()
