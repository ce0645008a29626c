"""A storm: one webhook with 10,000 alerts, stored, deduplicated and its one e-mail queued.

Times the POST to its 200 (everything committed), for a first storm (10,000 new
incidents, one page e-mail queued) and the same storm again (10,000 repeats).

    python bench/storm.py                      # SQLite
    python bench/storm.py --db postgres --alerts 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from common import (
    TOKEN,
    bridge,
    config_with_body_limit,
    database,
    free_port,
    metric,
    storm_payload,
)


def post(port: int, body: bytes) -> tuple[float, dict[str, int]]:
    """POST one webhook; (seconds to the answer, the answer)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="storms, each on a fresh bridge")
    args = parser.parse_args()
    print(f"{args.alerts} alerts in one webhook; database {args.db}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        # 10,000 alerts are about 4.5 MB of JSON: above the default 4 MiB limit.
        config = config_with_body_limit(Path(tmp), 64 * 1024 * 1024)
        for i in range(1, args.repeat + 1):
            body = storm_payload(args.alerts, uuid.uuid4().hex[:8])
            with database(args.db, Path(tmp)) as url:
                port = free_port()
                # SMTP points nowhere: the e-mail is queued, its delivery is not timed here.
                with bridge(url, port, config, SMTP_PORT=str(free_port())):
                    first, answer = post(port, body)
                    assert answer["queued"] == args.alerts, answer
                    again, answer = post(port, body)
                    assert answer["deduplicated"] == args.alerts, answer
                    pending = metric(port, "lumen_bridge_outbox_pending")
            print(
                f"storm {i}: {len(body) / 1e6:.1f} MB; new incidents {first:.2f} s "
                f"(e-mails queued: {pending:.0f}); the same storm again {again:.2f} s"
            )


if __name__ == "__main__":
    main()
