"""How fast the outbox drains a backlog of pages, and what each page costs the bridge.

Runs bench/ingest.py's "miss" load (wrk, every webhook opens incidents and queues a page)
against `lumen-bridge serve` for ``--seconds``, with an aiosmtpd sink in its own process,
then waits until the outbox is empty. While webhooks pile up for their commits, the worker
delivers only 8 pages a second, so most pages are still queued when wrk stops; the script
prints how many, the pages delivered per second afterwards, and the serving process's CPU
time per page.

    python bench/drain.py
    python bench/drain.py --db postgres
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import (
    bridge,
    cpu_seconds,
    database,
    free_port,
    listening,
    metric,
    smtp_sink,
)
from ingest import wrk, wrk_script

DELIVERED = 'lumen_bridge_notifications_total{receiver="oncall",result="delivered"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=5, help="of miss load before the drain")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the drain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        script = wrk_script(workdir, "miss")
        smtp = free_port()
        with database(args.db, workdir) as url, listening(smtp_sink(smtp), smtp):
            port = free_port()
            with bridge(url, port, SMTP_PORT=str(smtp)) as pid:
                rps, _, requests, failed = wrk(port, script, args.seconds, 32)
                sent = metric(port, DELIVERED)
                backlog = metric(port, "lumen_bridge_outbox_pending")
                started, cpu = time.monotonic(), cpu_seconds(pid)
                while metric(port, "lumen_bridge_outbox_pending") > 0:
                    if time.monotonic() - started > args.timeout:
                        raise SystemExit(f"the outbox did not drain within {args.timeout} s")
                    time.sleep(0.2)
                took, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu
                drained = metric(port, DELIVERED) - sent
    print(
        f"database {args.db}; {os.cpu_count()} CPUs; miss load {args.seconds} s: "
        f"{requests} webhooks ({rps:.0f}/s, {failed} failed), {sent:.0f} pages sent meanwhile"
    )
    print(
        f"backlog {backlog:.0f} pages drained in {took:.1f} s: {drained / took:.0f} pages/s, "
        f"serving process {cpu / drained * 1000:.2f} ms of CPU per page"
    )


if __name__ == "__main__":
    main()
