"""Time to page: webhook POST to the page accepted by a local SMTP server (aiosmtpd).

Starts ``lumen-bridge serve`` as a separate process (SQLite in a temporary directory,
or PostgreSQL with ``--db postgres``) with SMTP pointed at an aiosmtpd server run by
this script, then posts one firing alert at a time, each a new incident, and waits
for its e-mail before the next. Latency is measured on this process's monotonic
clock, from just before the POST to the SMTP server's end of DATA. Prints p50, p90,
p99 and max.

    python bench/time_to_page.py                  # SQLite, 200 pages
    python bench/time_to_page.py --db postgres --pages 500
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiosmtpd.controller import Controller
from common import free_port
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from lumen_bridge.store.models import DeliveryAttempt, Notification

FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "firing_page.json"
PG_ADMIN = os.environ.get("LUMEN_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


class Sink:
    """Resolves the waiting future of page ``i`` when its e-mail arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.perf_counter()
        marker = envelope.content.split(b"bench-page-", 1)[1][:8].decode()
        future = self.waiting.pop(marker, None)
        if future is not None:
            self.loop.call_soon_threadsafe(future.set_result, arrived)
        return "250 OK"


def body(marker: str) -> bytes:
    payload = json.loads(FIXTURE.read_text())
    alert = copy.deepcopy(payload["alerts"][0])
    alert["fingerprint"] = marker
    alert["labels"] = {**alert["labels"], "page": marker}
    alert["annotations"] = {"summary": f"bench-page-{marker}"}
    payload["alerts"] = [alert]
    return json.dumps(payload).encode()


async def create_pg_database() -> tuple[str, str]:
    name = f"lumen_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    host = PG_ADMIN.split("@", 1)[1].rsplit("/", 1)[0]
    user = PG_ADMIN.split("//", 1)[1].split("@", 1)[0]
    return name, f"postgresql+asyncpg://{user}@{host}/{name}"


async def drop_pg_database(name: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await connection.close()


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("lumen-bridge did not become ready")


async def run(
    pages: int, db: str, warmup: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    loop = asyncio.get_running_loop()
    sink = Sink(loop)
    smtp_port, port = free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    pg_name = None
    with tempfile.TemporaryDirectory() as tmp:
        if db == "postgres":
            pg_name, url = await create_pg_database()
        else:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        env = {
            **os.environ,
            "LUMEN_DATABASE_URL": url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "LUMEN_ALERT_TOKEN": "",
            "LUMEN_ADMIN_TOKEN": "",
        }
        server = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "lumen_bridge", "serve", "--port", str(port)),
            cwd=tmp,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        latencies, answers = [], []
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(session, base)
                for i in range(warmup + pages):
                    marker = f"{i:08d}"
                    future: asyncio.Future[float] = loop.create_future()
                    sink.waiting[marker] = future
                    data = body(marker)
                    started = time.perf_counter()
                    async with session.post(
                        f"{base}/webhook", data=data, headers={"Content-Type": "application/json"}
                    ) as response:
                        assert response.status == 200, await response.text()
                    answered = time.perf_counter()
                    arrived = await asyncio.wait_for(future, timeout=10)
                    if i >= warmup:
                        latencies.append((arrived - started) * 1000)
                        answers.append((answered - started) * 1000)
            server.terminate()
            await asyncio.wait_for(server.wait(), timeout=10)
            breakdown = await stages(url, warmup)
        finally:
            if server.returncode is None:
                server.terminate()
                await server.wait()
            controller.stop()
            if pg_name is not None:
                await drop_pg_database(pg_name)
    return latencies, answers, breakdown


async def stages(url: str, warmup: int) -> dict[str, list[float]]:
    """From the bridge's own records: receipt to send start, and the send itself."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(
                        Notification.created_at,
                        DeliveryAttempt.attempted_at,
                        DeliveryAttempt.duration_ms,
                    )
                    .join(DeliveryAttempt, DeliveryAttempt.outbox_id == Notification.id)
                    .order_by(Notification.id)
                )
            ).all()
    finally:
        await engine.dispose()
    rows = rows[warmup:]
    return {
        "receipt -> send starts": [(a - c).total_seconds() * 1000 for c, a, _ in rows],
        "send (render, SMTP)": [d for _, _, d in rows],
    }


def summary(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms  p90 {q[89]:.1f} ms  p99 {q[98]:.1f} ms  max {max(values):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    latencies, answers, breakdown = asyncio.run(run(args.pages, args.db, args.warmup))
    print(f"time to page ({args.db}, {len(latencies)} pages, one at a time)")
    print(f"  webhook -> SMTP accepted:  {summary(latencies)}")
    print(f"  webhook -> 200 answer:     {summary(answers)}")
    for name, values in breakdown.items():
        print(f"  {name + ':':26s} {summary(values)}")


if __name__ == "__main__":
    main()
