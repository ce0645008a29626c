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
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller
from common import TOKEN, bridge, database, free_port
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from lumen_bridge.store.models import DeliveryAttempt, Notification

FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "firing_page.json"


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


async def run(
    url: str, pages: int, warmup: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    loop = asyncio.get_running_loop()
    sink = Sink(loop)
    smtp_port, port = free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    latencies, answers = [], []
    try:
        with bridge(url, port, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port)):
            async with aiohttp.ClientSession() as session:
                for i in range(warmup + pages):
                    marker = f"{i:08d}"
                    future: asyncio.Future[float] = loop.create_future()
                    sink.waiting[marker] = future
                    data = body(marker)
                    started = time.perf_counter()
                    async with session.post(
                        f"http://127.0.0.1:{port}/webhook", data=data, headers=headers
                    ) as response:
                        assert response.status == 200, await response.text()
                    answered = time.perf_counter()
                    arrived = await asyncio.wait_for(future, timeout=10)
                    if i >= warmup:
                        latencies.append((arrived - started) * 1000)
                        answers.append((answered - started) * 1000)
    finally:
        controller.stop()
    return latencies, answers, await stages(url, warmup)


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
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        latencies, answers, breakdown = asyncio.run(run(url, args.pages, args.warmup))
    print(f"time to page ({args.db}, {len(latencies)} pages, one at a time)")
    print(f"  webhook -> SMTP accepted:  {summary(latencies)}")
    print(f"  webhook -> 200 answer:     {summary(answers)}")
    for name, values in breakdown.items():
        print(f"  {name + ':':26s} {summary(values)}")


if __name__ == "__main__":
    main()
