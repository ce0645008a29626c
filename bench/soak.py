"""A soak: a steady webhook rate for many minutes, with a short retention, to show that the
bridge's memory and its database stay bounded.

`lumen-bridge serve` runs in a subprocess with ``LUMEN_RETENTION`` short (2 minutes by
default) and a configuration copy whose ``retention.interval`` is short too; its pages go to
an aiosmtpd sink process. Webhooks (one alert each) go at a fixed rate, open loop: one in
five opens a new alert, three repeat live ones (deduplicated), one resolves the oldest once
``--live`` alerts are firing, so incidents resolve and both their e-mails are delivered.
Every ``--sample`` seconds it prints the window's answers and latencies, the resident memory
of each process, the database's size (SQLite: the file and its -wal) and row counts, and
what retention pruned; at the end, a verdict: bounded when no size of the run's last third
rises more than 5 % (and 1 MB) above its earlier high.

    python bench/soak.py                                  # SQLite, 10 minutes at 50/s
    python bench/soak.py --db postgres --minutes 30 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sqlite3
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from common import (
    FIXTURE,
    REPO,
    TOKEN,
    bridge,
    database,
    family,
    free_port,
    listening,
    memory_mb,
    metrics,
    smtp_sink,
)

TABLES = ("incidents", "alert_events", "outbox")
PRUNED = tuple(f'lumen_bridge_pruned_total{{table="{t}"}}' for t in TABLES)


def config_with_retention_interval(workdir: Path, interval: str) -> Path:
    """The shipped configuration with another ``retention.interval``."""
    text = (REPO / "config" / "lumen-bridge.yaml").read_text()
    path = workdir / "soak-config.yaml"
    pattern = r"(\nretention:.*?\n  interval: )\S+"
    path.write_text(re.sub(pattern, rf"\g<1>{interval}", text, count=1, flags=re.S))
    return path


class Load:
    """The soak's webhooks, in order: each alert fires, is repeated, then resolves."""

    def __init__(self, live: int) -> None:
        self.body: dict[str, Any] = json.loads(FIXTURE.read_text())
        self.alert = self.body["alerts"][0]
        self.live: deque[str] = deque()
        self.target = live
        self.sent = 0

    def next(self) -> bytes:
        self.sent += 1
        step = self.sent % 5
        status = "firing"
        if step == 0 or not self.live:
            name = f"soak-{self.sent}"
            self.live.append(name)
        elif step == 4 and len(self.live) > self.target:
            name = self.live.popleft()
            status = "resolved"
        else:
            name = random.choice(self.live)
        alert = {
            **self.alert,
            "status": status,
            "fingerprint": name,
            "labels": {**self.alert["labels"], "instance": name},
            "endsAt": "2026-11-26T12:30:00Z" if status == "resolved" else self.alert["endsAt"],
        }
        return json.dumps({**self.body, "status": status, "alerts": [alert]}).encode()


@dataclass
class Window:
    """What the sender saw since the last sample."""

    sent: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)


async def send(session: aiohttp.ClientSession, url: str, body: bytes, window: Window) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body) as response:
            await response.read()
            ok = response.status == 200
    except aiohttp.ClientError:
        ok = False
    window.sent += 1
    window.failed += not ok
    window.latencies.append(time.perf_counter() - started)


async def drive(port: int, rate: float, seconds: float, load: Load, stats: list[Window]) -> None:
    """Post ``rate`` webhooks a second for ``seconds``, open loop (each at its time)."""
    url = f"http://127.0.0.1:{port}/webhook"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(headers=headers) as session:
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds:
            if sent / rate > elapsed:
                await asyncio.sleep(sent / rate - elapsed)
            task = asyncio.create_task(send(session, url, load.next(), stats[-1]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.gather(*tasks)


def label(pid: int, bridge_pid: int) -> str:
    """What process ``pid`` of the soak is."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    if pid == bridge_pid:
        return "bridge"
    if "aiosmtpd" in cmdline:
        return "sink"
    if "resource_tracker" in cmdline:
        return "tracker"
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return "forkserver" if parent == bridge_pid else "writer"


COUNT = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)  # noqa: S608


def sqlite_sizes(path: Path) -> tuple[float, dict[str, int]]:
    """The database file and its -wal in MB, and the row counts (a read transaction)."""
    files = [path, path.with_name(path.name + "-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        rows = dict(connection.execute(COUNT).fetchall())
    return size / 2**20, rows


async def sizes(url: str) -> tuple[float, dict[str, int]]:
    """The database's size in MB and its row counts."""
    if url.startswith("sqlite"):
        return await asyncio.to_thread(sqlite_sizes, Path(url.split("///", 1)[1]))
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
        rows = dict(await connection.fetch(COUNT))
    finally:
        await connection.close()
    return size / 2**20, rows


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (0 when none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else 0.0


async def sample(
    port: int, bridge_pid: int, url: str, window: Window, seconds: float, minute: float
) -> dict[str, float]:
    """One row of the table: the window's answers, memory, database size and rows."""
    descendants = family(os.getpid())[1:]  # the bridge, its writer, the SMTP sink
    memory = {label(pid, bridge_pid): memory_mb(pid)["rss"] for pid in descendants}
    size, rows = await sizes(url)
    pruned = await asyncio.to_thread(metrics, port, *PRUNED)
    lat = [x * 1000 for x in window.latencies]
    row: dict[str, float] = {
        "min": minute,
        "sent/s": window.sent / seconds,
        "fail": window.failed,
        "p50 ms": percentile(lat, 50),
        "p99 ms": percentile(lat, 99),
        "max ms": max(lat, default=0.0),
    }
    row |= {f"{name} MB": mb for name, mb in sorted(memory.items()) if name != "tracker"}
    row["db MB"] = size
    row |= {t: rows[t] for t in TABLES}
    row |= {f"pruned {t}": int(n) for t, n in zip(TABLES, pruned, strict=True)}
    return row


def cell(key: str, value: float) -> str:
    """``value`` under the column ``key`` (counts without decimals)."""
    return f"{value:>{len(key)}}" if isinstance(value, int) else f"{value:>{len(key)}.1f}"


def growing(series: list[float]) -> bool:
    """Whether a size keeps growing: its high in the last third of the run exceeds its
    earlier high by more than 5 % and 1 MB."""
    third = max(len(series) // 3, 1)
    earlier, last = series[:-third], series[-third:]
    return max(last) > max(earlier, default=0.0) * 1.05 + 1


async def soak(args: argparse.Namespace, port: int, bridge_pid: int, url: str) -> None:
    load, stats = Load(args.live), [Window()]
    sender = asyncio.create_task(drive(port, args.rate, args.minutes * 60, load, stats))
    table: list[dict[str, float]] = []
    started = last = time.monotonic()
    while not sender.done():
        await asyncio.wait([sender], timeout=args.sample)
        if sender.done():
            break
        stats.append(Window())
        now = time.monotonic()
        row = await sample(port, bridge_pid, url, stats[-2], now - last, (now - started) / 60)
        table.append(row)
        last = now
        if len(table) == 1:
            print(" | ".join(table[0]))
        print(" | ".join(cell(k, v) for k, v in table[-1].items()), flush=True)
    await sender
    verdicts = {
        key: growing([row[key] for row in table])
        for key in table[0]
        if key.endswith("MB") and len(table) >= 3
    }
    failed = sum(w.failed for w in stats)
    print(f"\n{load.sent} webhooks sent, {failed} not answered 200")
    for key, grows in verdicts.items():
        print(f"{key:>14}: {'GROWING' if grows else 'bounded'}")
    if not verdicts:
        print("verdict: too short to judge (fewer than 3 samples)")
    else:
        print(f"verdict: {'NOT bounded' if any(verdicts.values()) else 'bounded'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=50, help="webhooks per second")
    parser.add_argument("--live", type=int, default=200, help="alerts firing at once")
    parser.add_argument("--retention", default="2m", help="retention.max_age")
    parser.add_argument("--interval", default="30s", help="retention.interval")
    parser.add_argument("--sample", type=float, default=30, help="seconds between rows")
    args = parser.parse_args()
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} webhooks/s (1 alert each), "
        f"{args.live} firing at once; retention {args.retention} every {args.interval}; "
        f"database {args.db}; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        config = config_with_retention_interval(workdir, args.interval)
        smtp = free_port()
        with database(args.db, workdir) as url, listening(smtp_sink(smtp), smtp):
            port = free_port()
            env = {"SMTP_PORT": str(smtp), "LUMEN_RETENTION": args.retention}
            with bridge(url, port, config, **env) as pid:
                asyncio.run(soak(args, port, pid, url))


if __name__ == "__main__":
    main()
