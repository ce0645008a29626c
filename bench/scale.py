"""Dedup cost as the database grows, and the bridge's memory after many alerts.

``cost``: fills the database with N incidents (1,000 and 1,000,000 by default), then
times sequential dedup-hit webhooks (2 alerts each, hitting stored incidents) and
prints the mean and p99 per webhook for each size, and the ratio.
``rss``: posts ``--alerts`` distinct alerts in webhooks of ``--batch`` and prints, for
the bridge and each process it started (the writer, multiprocessing's forkserver and
resource tracker), the RSS after start, at the end and at its peak, and the PSS.

    python bench/scale.py cost                 # SQLite, 1k vs 1M
    python bench/scale.py rss --alerts 1000000
    python bench/scale.py cost --db postgres --sizes 1000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from common import (
    FIXTURE,
    TOKEN,
    bridge,
    config_with_body_limit,
    database,
    family,
    free_port,
    memory_mb,
    storm_payload,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO incidents (receiver, identity, is_current, status, alertname, severity, labels,
  annotations, starts_at, first_seen, last_seen, occurrences, notified, held, notify_seq,
  generator_url, alertmanager_url, group_key, last_notified_at)
SELECT 'oncall', 'pre-' || i, 1, 'firing', 'LumenIntegrityMismatch', 'page',
  '{"alertname": "LumenIntegrityMismatch"}', '{}', '2026-11-26 11:53:38.159278',
  '2026-11-26 11:53:38', '2026-11-26 11:53:38', 1, 1, 0, 1, '', '', '',
  strftime('%Y-%m-%d %H:%M:%f', 'now') FROM n
"""
FILL_POSTGRES = """
INSERT INTO incidents (receiver, identity, is_current, status, alertname, severity, labels,
  annotations, starts_at, first_seen, last_seen, occurrences, notified, held, notify_seq,
  generator_url, alertmanager_url, group_key, last_notified_at)
SELECT 'oncall', 'pre-' || i, true, 'firing', 'LumenIntegrityMismatch', 'page',
  '{"alertname": "LumenIntegrityMismatch"}', '{}', '2026-11-26 11:53:38.159278+00',
  '2026-11-26 11:53:38+00', '2026-11-26 11:53:38+00', 1, true, false, 1, '', '', '', now()
FROM generate_series(1, :count) AS i
"""


def migrate(url: str) -> None:
    env = {**os.environ, "LUMEN_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "lumen_bridge", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )


async def fill(url: str, count: int) -> None:
    engine = create_async_engine(url)
    sql = FILL_POSTGRES if url.startswith("postgresql") else FILL_SQLITE
    async with engine.begin() as connection:
        await connection.execute(text(sql), {"count": count})
    await engine.dispose()


def hit_payload(size: int) -> bytes:
    body = json.loads(FIXTURE.read_text())
    template = body["alerts"][0]
    alerts = []
    for i in (size // 3, size // 2):  # two incidents already stored, in the middle
        alert = dict(template)
        alert["fingerprint"] = f"pre-{i}"
        alert["startsAt"] = "2026-11-26T11:53:38.159278Z"
        alerts.append(alert)
    body["alerts"] = alerts
    return json.dumps(body).encode()


async def time_posts(port: int, body: bytes, count: int) -> list[float]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    times = []
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(count):
            started = time.perf_counter()
            async with http.post(f"http://127.0.0.1:{port}/webhook", data=body) as response:
                answer = await response.json()
                assert answer["deduplicated"] == 2, answer
            times.append(time.perf_counter() - started)
    return times


def cost(args: argparse.Namespace, workdir: Path) -> None:
    means = {}
    for size in args.sizes:
        with database(args.db, workdir) as url:
            migrate(url)
            started = time.perf_counter()
            asyncio.run(fill(url, size))
            filled = time.perf_counter() - started
            port = free_port()
            with bridge(url, port):
                times = asyncio.run(time_posts(port, hit_payload(size), args.posts))[50:]
        means[size] = statistics.mean(times)
        p99 = statistics.quantiles(times, n=100, method="inclusive")[98]
        print(
            f"{size:>9} incidents (filled in {filled:.1f} s): dedup-hit webhook mean "
            f"{means[size] * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"
        )
    small, large = min(means), max(means)
    print(f"cost at {large} / cost at {small}: {means[large] / means[small]:.2f}")


def rss(args: argparse.Namespace, workdir: Path) -> None:
    config = config_with_body_limit(workdir, 64 * 1024 * 1024)

    async def post_all(port: int) -> None:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            for n in range(args.alerts // args.batch):
                body = storm_payload(args.batch, f"rss{n}-{uuid.uuid4().hex[:4]}")
                async with http.post(f"http://127.0.0.1:{port}/webhook", data=body) as r:
                    assert r.status == 200, await r.text()

    with database(args.db, workdir) as url:
        port = free_port()
        with bridge(url, port, config, SMTP_PORT=str(free_port())) as pid:
            at_start = {p: memory_mb(p) for p in family(pid)}
            started = time.perf_counter()
            asyncio.run(post_all(port))
            elapsed = time.perf_counter() - started
            print(f"{args.alerts} alerts in webhooks of {args.batch}: {elapsed:.0f} s")
            at_end = {p: memory_mb(p) for p in family(pid)}
            for p, end in at_end.items():
                start = at_start.get(p, {"rss": 0.0})
                role = "serve" if p == pid else Path(f"/proc/{p}/cmdline").read_text()[:60]
                print(
                    f"  {p:>7} RSS after start {start['rss']:5.0f} MB, at the end "
                    f"{end['rss']:5.0f} MB, peak {end['hwm']:5.0f} MB, PSS {end['pss']:5.0f} MB"
                    f"  {role.replace(chr(0), ' ')}"
                )
            rss_sum = sum(m["rss"] for m in at_end.values())
            pss_sum = sum(m["pss"] for m in at_end.values())
            print(
                f"  all {len(at_end)}: RSS at the end {rss_sum:.0f} MB (shared pages counted in "
                f"every process), PSS {pss_sum:.0f} MB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["cost", "rss"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    print(f"database {args.db}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        (cost if args.mode == "cost" else rss)(args, Path(tmp))


if __name__ == "__main__":
    main()
