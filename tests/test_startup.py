"""Start-up and readiness: `serve` listens at once and waits for its database; a port in use
ends it before any database is touched; `/readyz` follows the last write's outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from lumen_bridge.api.keys import RUNNER
from tests.conftest import ALERT_TOKEN, AppFactory, auth, payload, post
from tests.procs import BRIDGE, free_port

START_WITHIN = 60.0  # seconds, for a busy machine
PASSWORD = "pw-never-logged"
Log = list[dict[str, Any]]


# -- serve as a process ---------------------------------------------------------------------


def log_lines(path: Path) -> Log:
    """The JSON lines of a `serve` log (its stdout and stderr)."""
    lines = []
    for raw in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            lines.append(json.loads(raw))
    return lines


@contextlib.contextmanager
def serving(cwd: Path, env: dict[str, str], port: int) -> Iterator[Path]:
    """`lumen-bridge serve` on ``port`` until the block ends; yields its log file once the
    port accepts connections (ready or not)."""
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*BRIDGE, "serve", "--port", str(port)],
            cwd=cwd,
            env={**os.environ, "LUMEN_ALERT_TOKEN": ALERT_TOKEN, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_WITHIN
        while True:
            assert process.poll() is None, f"serve exited: {log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"serve did not listen: {log.read_text()}"
                time.sleep(0.05)
        yield log
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def until_ready(http: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + START_WITHIN
    while (await get(http, f"{base}/readyz"))[0] != 200:
        assert time.monotonic() < deadline, "not ready in time"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def tcp_proxy(port: int, target: tuple[str, int]) -> AsyncIterator[None]:
    """Forward connections to ``port`` on 127.0.0.1 to ``target`` until the block ends (then
    every forwarded connection is cut)."""
    writers: list[asyncio.StreamWriter] = []
    piping: list[asyncio.Task[None]] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        writers.extend((writer, up_writer))
        piping.append(asyncio.create_task(pipe(reader, up_writer)))
        piping.append(asyncio.create_task(pipe(up_reader, writer)))

    server = await asyncio.start_server(connect, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        for writer in writers:
            writer.close()
        await asyncio.wait_for(asyncio.gather(*piping, return_exceptions=True), 30)


@pytest.mark.postgres
async def test_serve_answers_at_once_and_starts_once_postgres_answers(
    tmp_path: Path, pg_database: str
) -> None:
    real = make_url(pg_database)
    port = free_port()  # nobody listens there until the proxy starts
    url = real.set(port=port, password=PASSWORD).render_as_string(hide_password=False)
    base = f"http://127.0.0.1:{(bridge := free_port())}"
    with serving(tmp_path, {"LUMEN_DATABASE_URL": url}, bridge) as log:
        async with aiohttp.ClientSession() as http:
            assert await get(http, f"{base}/healthz") == (200, {"status": "ok"})
            status, answer = await get(http, f"{base}/readyz")
            assert status == 503
            assert answer["error"].startswith("starting")
            async with http.post(f"{base}/webhook", json=payload(), headers=auth()) as refused:
                assert refused.status == 503  # Alertmanager retries a 5xx
                assert isinstance((await refused.json())["error"], str)
            # it keeps trying, and stays unready, while nothing answers
            waited = time.monotonic() + 2.0
            while time.monotonic() < waited:
                status, answer = await get(http, f"{base}/readyz")
                assert status == 503
                await asyncio.sleep(0.1)
            assert "the database is not ready" in answer["error"]
            assert "Connect call failed" in answer["error"]

            async with tcp_proxy(port, (real.host or "127.0.0.1", real.port or 5432)):
                await until_ready(http, base)
                body = payload(fingerprint=f"after-start-{time.time_ns()}")
                async with http.post(f"{base}/webhook", json=body, headers=auth()) as accepted:
                    assert accepted.status == 200
                    assert (await accepted.json())["queued"] == 1
                assert (await get(http, f"{base}/healthz"))[0] == 200
            lines = log_lines(log)
    assert PASSWORD not in log.read_text()
    (listening,) = [line for line in lines if line["event"] == "listening"]
    assert listening["address"] == base
    assert listening["database"] == url.replace(PASSWORD, "***")
    retrying = [line for line in lines if line["event"] == "database not ready; retrying"]
    (ready,) = [line for line in lines if line["event"] == "database ready"]
    assert retrying and "Connect call failed" in retrying[0]["error"]
    # tried every 0.5, 1, 2, ... s, logged at most every 30 s
    assert ready["failures"] >= 2 and len(retrying) < ready["failures"]


def test_serve_stops_promptly_while_it_waits_for_its_database(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://lumen:{PASSWORD}@127.0.0.1:{free_port()}/lumen"
    with serving(tmp_path, {"LUMEN_DATABASE_URL": url}, free_port()) as log:
        pass  # stopped (SIGTERM) while its start waits: exit code 0, checked on the way out
    assert PASSWORD not in log.read_text()


def test_a_port_in_use_fails_at_once_and_touches_no_database(tmp_path: Path) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = subprocess.run(
            [*BRIDGE, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"lumen-bridge: port {port} on 127.0.0.1 is in use; is another lumen-bridge running? "
        "choose another with --port"
    )
    assert list(tmp_path.iterdir()) == []  # no lumen-bridge.db


async def test_the_start_line_names_the_address_and_the_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, {}, port) as log:
        async with aiohttp.ClientSession() as http:
            await until_ready(http, f"http://127.0.0.1:{port}")
    (listening,) = [line for line in log_lines(log) if line["event"] == "listening"]
    assert listening["level"] == "info"
    assert listening["address"] == f"http://127.0.0.1:{port}"
    assert listening["database"] == str((tmp_path / "lumen-bridge.db").resolve())
    assert (tmp_path / "lumen-bridge.db").exists()


# -- readiness follows the last write -------------------------------------------------------


def _nothing_changed(connection: Connection) -> None:
    """A write transaction that changes no row, like the delivery worker's idle claim."""
    connection.execute(text("UPDATE incidents SET status = status WHERE id < 0"))


async def ready(client: TestClient[Any, Any]) -> tuple[int, str]:
    response = await client.get("/readyz")
    answer = await response.json()
    return response.status, answer.get("error", "")


async def test_readyz_says_unready_while_the_last_write_failed(
    client: TestClient[Any, Any],
) -> None:
    runner = client.app[RUNNER]
    assert (await ready(client))[0] == 200
    with pytest.raises(DBAPIError):
        await runner.write(lambda c: c.execute(text("INSERT INTO no_such_table VALUES (1)")))
    status, error = await ready(client)
    assert status == 503
    assert error.startswith("the last write failed: ") and "no_such_table" in error
    assert "INSERT" not in error  # the driver's message, not the statement
    assert (await client.get("/healthz")).status == 200
    await runner.write(_nothing_changed)  # proves nothing about writes
    assert (await ready(client))[0] == 503
    await post(client, payload())  # a write that stored something
    assert await ready(client) == (200, "")


@pytest.mark.parametrize("writer", ["process", "thread"])
async def test_a_failed_webhook_write_makes_the_bridge_unready(
    make_client: AppFactory, writer: str
) -> None:
    """The writer process's failures count as this process's last write; another writer's
    update (the delivery worker's, which fits on a full disk) does not make it ready."""
    client = await make_client(LUMEN_DATABASE_WRITER=writer)
    runner = client.app[RUNNER]
    assert (await client.post("/webhook", json=payload(), headers=auth())).status == 200
    await runner.write(lambda c: c.execute(text("ALTER TABLE alert_events RENAME TO away")))
    try:
        response = await client.post("/webhook", json=payload(), headers=auth())
        assert response.status == 503
        status, error = await ready(client)
        assert status == 503 and "the last write failed" in error
        await runner.write(_nothing_changed)
        assert (await ready(client))[0] == 503
        await runner.write(lambda c: c.execute(text("UPDATE incidents SET status = status")))
        assert (await ready(client))[0] == 503
    finally:
        await runner.write(lambda c: c.execute(text("ALTER TABLE away RENAME TO alert_events")))
    # A PostgreSQL connection may answer once more from statements prepared before.
    for _ in range(3):
        response = await client.post("/webhook", json=payload(), headers=auth())
        if response.status == 200:
            break
    assert response.status == 200
    assert await ready(client) == (200, "")


async def test_a_full_sqlite_database_makes_the_bridge_unready(
    make_client: AppFactory, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's page limit stands in for a full disk")
    client = await make_client(LUMEN_DATABASE_WRITER="thread")
    runner = client.app[RUNNER]

    def full(connection: Connection) -> None:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages}")

    await runner.write(full)
    try:
        response = await client.post("/webhook", json=payload(n=300), headers=auth())
        assert response.status == 503
        status, error = await ready(client)
        assert (status, error) == (503, "the last write failed: database or disk is full")
        await runner.write(_nothing_changed)
        assert (await ready(client))[0] == 503
        await runner.write(lambda c: c.execute(text("UPDATE incidents SET status = status")))
        assert (await ready(client))[0] == 503
    finally:
        await runner.write(lambda c: c.exec_driver_sql("PRAGMA max_page_count = 1073741823"))
    assert (await ready(client))[0] == 503  # until a write stores something
    await post(client, payload(n=300))
    assert await ready(client) == (200, "")
