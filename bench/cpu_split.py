"""Where the CPU goes during an ingest run: CPU time per request, by process.

Runs bench/ingest.py's load (wrk, 32 connections, the hit or miss workload) against
`lumen-bridge serve` for ``--seconds`` and reads every process's CPU time
(``/proc/PID/stat``) before and after: the serving process, its writer, the PostgreSQL
backends, the SMTP sink. wrk itself has exited by the second reading and is not counted.
Also prints how busy the whole machine was (``/proc/stat``, out of 100 % per CPU).

    python bench/cpu_split.py miss
    python bench/cpu_split.py hit --db postgres
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import (
    bridge,
    cpu_seconds,
    database,
    family,
    free_port,
    listening,
    smtp_sink,
)
from ingest import wrk, wrk_script


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds so far."""
    found = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        pid = int(comm.parent.name)
        try:
            found[pid] = (comm.read_text().strip(), cpu_seconds(pid))
        except OSError:  # it ended meanwhile
            continue
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)  # idle and iowait are not busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["hit", "miss"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--top", type=int, default=6, help="processes to list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        script = wrk_script(workdir, args.workload)
        smtp = free_port()
        with database(args.db, workdir) as url, listening(smtp_sink(smtp), smtp):
            port = free_port()
            with bridge(url, port, SMTP_PORT=str(smtp)) as pid:
                before, machine_before = cpu_by_process(), machine_ticks()
                rps, p99, requests, failed = wrk(port, script, args.seconds, 32)
                after, machine_after = cpu_by_process(), machine_ticks()
                ours = set(family(pid))
    busy = (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1])
    print(
        f"{args.db} {args.workload}: {rps:,.0f} requests/s, p99 {p99:.1f} ms, {requests} requests "
        f"({failed} failed); the machine {busy * 100 * (os.cpu_count() or 1):.0f} % busy "
        f"of {100 * (os.cpu_count() or 1)} %"
    )
    spent = []
    for process, (name, seconds) in after.items():
        used = seconds - before.get(process, (name, 0.0))[1]
        if used > 0:
            role = "serving" if process == pid else "bridge child" if process in ours else "other"
            spent.append((used, f"{role} {name} ({process})"))
    print(f"{'process':<40} {'CPU':>6} {'per request':>12}")
    for seconds, label in sorted(spent, reverse=True)[: args.top]:
        print(
            f"{label:<40} {seconds / args.seconds * 100:>5.0f}% {seconds / requests * 1e6:>9.0f} µs"
        )


if __name__ == "__main__":
    main()
