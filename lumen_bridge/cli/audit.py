"""``lumen-bridge audit``: who did what, from the running bridge's audit log (docs/audit.md).

A client of ``GET /audit`` as :mod:`lumen_bridge.cli.client` says: newest first, filtered by
actor, action or target; ``-o json`` prints the entries as the API gives them.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from lumen_bridge.cli.client import CliError, base_url, call, run
from lumen_bridge.cli.output import table, utc
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.store.audit import MAX_LISTED

__all__ = ["register"]

EPILOG = """\
examples:
  lumen-bridge audit                         # the last 50 actions
  lumen-bridge audit --actor alice           # what alice did
  lumen-bridge audit --action ack --limit 200
  lumen-bridge audit --target 42 -o json     # everything done to incident 42

environment: LUMEN_BRIDGE_URL (default http://127.0.0.1:9095), LUMEN_ADMIN_TOKEN.
"""


def _summary(entry: dict[str, Any]) -> str:
    detail = entry.get("detail") or {}
    parts = [str(detail[key]) for key in ("matchers", "comment") if detail.get(key)]
    if "ends_at" in detail and entry["action"] != "silence.expire":
        parts.append(f"until {utc(datetime.fromisoformat(detail['ends_at']))}")
    return " · ".join(" ".join(part.split()) for part in parts)


async def _audit(args: argparse.Namespace) -> None:
    query = {"limit": str(args.limit)}
    for name, value in (("actor", args.actor), ("action", args.kind), ("target", args.target)):
        if value is not None:
            query[name] = value
    answer = await call("GET", f"/audit?{urlencode(query)}")
    if not isinstance(answer, dict) or not isinstance(answer.get("entries"), list):
        raise CliError(f"unexpected answer from {base_url()}: not the audit log")
    entries: list[dict[str, Any]] = answer["entries"]
    if args.output == "json":
        print(json.dumps(entries))
    elif not entries:
        print("no audit entries" + (" match" if len(query) > 1 else " yet"))
    else:
        rows = [
            (
                utc(datetime.fromisoformat(e["at"])),
                e["actor"],
                e["action"],
                e["target"],
                _summary(e),
            )
            for e in entries
        ]
        print(table(("WHEN", "WHO", "ACTION", "TARGET", "DETAIL"), rows))


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LISTED:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_LISTED}")
    return int(text)


def register(subcommands: Any) -> None:
    """Add ``audit`` to the ``lumen-bridge`` parser's subcommands."""
    audit = subcommands.add_parser(
        "audit",
        help="who did what: acks, silences, the flag, re-sends (newest first)",
        description="Print the running bridge's audit log, newest first.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument("--actor", help="only this admin token's name")
    audit.add_argument(
        "--action",
        dest="kind",
        choices=[a.value for a in AuditAction],
        help="only this kind of action",
    )
    audit.add_argument("--target", help="only this incident, silence or notification id")
    audit.add_argument("--limit", type=_limit, default=50, help="at most this many (default 50)")
    audit.add_argument("-o", "--output", choices=["table", "json"], default="table")
    audit.set_defaults(func=run, action=_audit)
