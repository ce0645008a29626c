"""The writer's cost per webhook: the pipeline's batches alone, without HTTP.

Runs what the writer process runs (parse the raw bodies, ``Pipeline.process`` in
``Runner.write_blocking``: decide and commit) for ``--batches`` batches of
``--per-batch`` hit or miss webhooks (the 2-alert payload of bench/ingest.py), and prints
the CPU time per webhook and the wall time (on PostgreSQL, wall minus CPU is mostly the
server's work and the round trips).
On a shared machine those times move by a third from run to run; ``--instructions`` runs
the same twice under ``valgrind --tool=callgrind`` (once without the batches) and prints
the instructions per webhook instead, which repeat to the last digits.

    python bench/writer.py miss
    python bench/writer.py miss --db postgres
    python bench/writer.py miss --instructions      # about two minutes, SQLite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import database
from ingest import payload_text

from lumen_bridge.config import load_settings
from lumen_bridge.pipeline import Pipeline, Webhook
from lumen_bridge.store import migrate
from lumen_bridge.store.database import open_runner


def batches(workload: str, count: int, size: int, start: int) -> list[list[Webhook]]:
    """``count`` batches of ``size`` raw webhooks, as the writer process receives them."""
    body = payload_text()
    now = datetime.now(UTC)
    made, n = [], start
    for _ in range(count):
        batch = []
        for _ in range(size):
            n += 1
            text = body.replace("FPRINT", f"w{n}" if workload == "miss" else "fixed")
            batch.append(Webhook(text.encode(), now + timedelta(milliseconds=n)))
        made.append(batch)
    return made


def rounds(args: argparse.Namespace, url: str) -> list[tuple[float, float]]:
    """CPU seconds (every thread of this process) and wall seconds per webhook, by round."""
    settings = load_settings(None, {"LUMEN_DATABASE_URL": url})
    runner = open_runner(settings.database, serial=True)  # as the writer process
    pipeline = Pipeline(settings, runner)
    per_round = []
    for round_ in range(args.rounds):
        work = batches(args.workload, args.batches, args.per_batch, round_ * 10**6)
        cpu, wall = time.process_time(), time.perf_counter()
        for batch in work:
            runner.write_blocking(pipeline.work(batch))
        webhooks = args.batches * args.per_batch
        per_round.append(
            ((time.process_time() - cpu) / webhooks, (time.perf_counter() - wall) / webhooks)
        )
    asyncio.run(runner.close())
    return per_round


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(args.db, Path(tmp)) as url:
        migrate.upgrade(url)
        per_round = rounds(args, url)
        if per_round:
            print(
                f"{args.workload} on {args.db}: CPU / wall per webhook, by round: "
                + ", ".join(f"{cpu * 1e6:.0f} / {wall * 1e6:.0f} µs" for cpu, wall in per_round)
            )


def instructions(args: argparse.Namespace) -> None:
    def collected(rounds: int) -> int:
        argv = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={os.devnull}",
            sys.executable,
            __file__,
            args.workload,
            f"--rounds={rounds}",
            f"--batches={args.batches}",
            f"--per-batch={args.per_batch}",
            "--db=sqlite",
        ]
        err = subprocess.run(argv, capture_output=True, text=True, check=True).stderr
        match = re.search(r"Collected : (\d+)", err)
        assert match is not None, err
        return int(match.group(1))

    webhooks = args.batches * args.per_batch
    per_webhook = (collected(1) - collected(0)) / webhooks
    print(
        f"{args.workload}: {per_webhook / 1e6:.3f}M instructions per webhook ({webhooks} webhooks)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["hit", "miss"])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--per-batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--instructions", action="store_true", help="count them with callgrind")
    args = parser.parse_args()
    if args.instructions and args.db != "sqlite":
        parser.error("--instructions counts the SQLite writer only")
    (instructions if args.instructions else run)(args)


if __name__ == "__main__":
    main()
