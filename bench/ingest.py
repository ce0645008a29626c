"""Ingest throughput: lumen-bridge against a bare aiohttp handler, side by side.

Runs wrk (Debian's package) with a Lua script that posts a 2-alert Alertmanager
payload, alternating the ceiling (bench/ceiling.py) and lumen-bridge, and prints
requests/s, p99 latency and the ratio to the ceiling of the same round. After each
bridge run it checks that the bridge counted exactly the alerts wrk got 200s for.
Pages go to an aiosmtpd sink in its own process, so the outbox drains as in production.

    python bench/ingest.py                     # SQLite, hit and miss, 3 rounds of 10 s
    python bench/ingest.py --db postgres --rounds 2 --seconds 5
    python bench/ingest.py --config my-config.yaml    # the bridge with another configuration

Workloads: "hit" repeats one payload (every alert after the first is deduplicated);
"miss" varies fingerprints and labels per request, so every alert opens an incident.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    FIXTURE,
    TOKEN,
    bridge,
    database,
    free_port,
    listening,
    process,
    settled_metrics,
    smtp_sink,
)

HERE = Path(__file__).parent

LUA = """
local body = [==[%(body)s]==]
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}
local vary = %(vary)s
local counter = 0
local prefix = ""
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
function init(args)
  prefix = tid
end
function request()
  if vary then
    counter = counter + 1
    local b = string.gsub(body, "FPRINT", prefix .. "-" .. counter)
    return wrk.format("POST", "/webhook", headers, b)
  end
  return wrk.format("POST", "/webhook", headers, body)
end
"""


def payload_text() -> str:
    """A 2-alert payload of about 1.9 KB; FPRINT marks what the miss workload varies."""
    body = json.loads(FIXTURE.read_text())
    first = body["alerts"][0]
    first["annotations"]["description"] = (
        "The remote copy's SHA-256 differs from the local build; see the verify stage log. " * 4
    )
    second = json.loads(json.dumps(first))
    first["fingerprint"] = "a-FPRINT"
    first["labels"]["run"] = "FPRINT"
    second["fingerprint"] = "b-FPRINT"
    second["labels"]["instance"] = "remote-b"
    second["labels"]["run"] = "FPRINT"
    body["alerts"] = [first, second]
    return json.dumps(body, ensure_ascii=False)


def wrk_script(workdir: Path, workload: str) -> Path:
    """The Lua script (in ``workdir``) that makes wrk post the "hit" or "miss" workload."""
    body = payload_text()
    miss = workload == "miss"
    script = workdir / f"{workload}.lua"
    script.write_text(
        LUA
        % {
            "body": body if miss else body.replace("FPRINT", "fixed"),
            "token": TOKEN,
            "vary": "true" if miss else "false",
        }
    )
    return script


def wrk(port: int, script: Path, seconds: int, connections: int) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, requests completed, non-2xx) from one wrk run."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/webhook",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_raw = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_raw is not None, out
    p99 = float(p99_raw.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99_raw.group(2)]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(x) for x in errors.groups())
    return rps, p99, total, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workload", choices=["hit", "miss", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--config", type=Path, help="the bridge's configuration (default: shipped)")
    args = parser.parse_args()
    workloads = ["hit", "miss"] if args.workload == "both" else [args.workload]
    body = payload_text()
    print(
        f"payload: {len(body.encode())} bytes, 2 alerts; wrk -t2 -c{args.connections} "
        f"-d{args.seconds}s; database {args.db}; {os.cpu_count()} CPUs"
    )

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for workload in workloads:
            script = wrk_script(workdir, workload)
            ratios, rows = [], []
            for round_ in range(1, args.rounds + 1):
                port = free_port()
                with process(
                    [sys.executable, str(HERE / "ceiling.py"), str(port)], {}, port, "/webhook"
                ):
                    c_rps, c_p99, _, _ = wrk(port, script, args.seconds, args.connections)
                smtp = free_port()
                with database(args.db, workdir) as url, listening(smtp_sink(smtp), smtp):
                    port = free_port()
                    with bridge(url, port, args.config, SMTP_PORT=str(smtp)):
                        b_rps, b_p99, total, bad = wrk(port, script, args.seconds, args.connections)
                        ok, alerts = settled_metrics(
                            port,
                            'lumen_bridge_webhook_requests_total{code="200"}',
                            'lumen_bridge_alerts_received_total{status="firing"}',
                        )
                # wrk stops mid-request: the bridge may have answered a few it never counted.
                correct = ok >= total - bad and alerts == 2 * ok and bad == 0
                ratio = b_rps / c_rps
                ratios.append(ratio)
                rows.append((round_, c_rps, c_p99, b_rps, b_p99, ratio, total, ok, correct))
            print(
                f"\n[{workload}] round  ceiling req/s  p99 ms | bridge req/s  p99 ms | ratio "
                f"| wrk 200s  bridge 200s  consistent"
            )
            for r in rows:
                print(
                    f"[{workload}] {r[0]:>5}  {r[1]:>13.0f}  {r[2]:>6.1f} | {r[3]:>12.0f}  "
                    f"{r[4]:>6.1f} | {r[5]:.3f} | {r[6]:>8}  {r[7]:>11.0f}  {r[8]}"
                )
            print(f"[{workload}] median ratio {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
