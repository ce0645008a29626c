"""``lumen-bridge explain PAYLOAD.json``: what the bridge would do with a webhook, and why.

A client of ``POST /explain`` (it talks to the bridge as :mod:`lumen_bridge.cli.client`
says): nothing is stored or sent. ``-o json`` prints the bridge's whole answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from lumen_bridge.cli.client import CliError, call, run

__all__ = ["register"]

EPILOG = """\
examples:
  lumen-bridge explain alert.json            # a webhook body, as Alertmanager posts it
  lumen-bridge explain alert.json -o json    # everything, including the rendered bodies

environment: LUMEN_BRIDGE_URL (default http://127.0.0.1:9095), LUMEN_ADMIN_TOKEN.
"""


def _story(alert: dict[str, Any]) -> list[str]:
    """An alert's lines: its routes, then each decision."""
    lines = [f"{alert['alertname'] or '(no alertname)'} {alert['status']} ({alert['identity']})"]
    for route in alert["routes"]:
        why = "matched" if route["matched"] else f"not matched: {route['failed_matcher']} fails"
        matchers = ", ".join(route["matchers"]) or "(everything)"
        lines.append(f"  route {route['route']} -> {route['receiver']} [{matchers}]: {why}")
    if alert["unrouted"]:
        lines.append("  no route takes it: ignored (unrouted)")
    for decision in alert["decisions"]:
        dedup = decision["dedup"]
        row = dedup["table_row"]
        incident = decision["incident"]
        which = "a new incident" if incident["new"] else f"incident {incident['id']}"
        lines.append(
            f"  {decision['receiver']}: {which}; {dedup['reason']}"
            + (f" (dedup table row {row})" if row else "")
            + f" -> {decision['outcome']}"
        )
        held = decision["held_by"]
        if held:
            by = "the global flag" if held["flag"] else "silence " + ", ".join(held["silences"])
            lines.append(f"    held back by {by}")
        if decision["notification"]:
            note = decision["notification"]
            lines.append(
                f"    would queue {note['kind']} {note['action']} "
                f"(Idempotency-Key {note['idempotency_key']})"
            )
    return lines


async def _explain(args: argparse.Namespace) -> None:
    try:
        body = json.loads(await asyncio.to_thread(Path(args.payload).read_text, "utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read a JSON webhook body from {args.payload}: {exc}", 2) from exc
    told = await call("POST", "/explain", body)
    if args.output == "json":
        print(json.dumps(told, indent=2, ensure_ascii=False))
        return
    answer = ", ".join(f"{key} {value}" for key, value in told["answer"].items())
    print(f"a post would be answered: {answer}")
    for alert in told["alerts"]:
        print("\n".join(_story(alert)))
    for note in told["notifications"]:
        if "subject" in note:
            print(f"e-mail to {', '.join(note['to'])}: {note['subject']}")
    print("nothing was stored or sent")


def register(subcommands: Any) -> None:
    """Add ``explain`` to the ``lumen-bridge`` parser's subcommands."""
    explain = subcommands.add_parser(
        "explain",
        help="what the running bridge would do with a webhook body, and why (nothing is sent)",
        description="Ask the running bridge what it would do with a webhook: the routes, "
        "the dedup decision, what would hold it back and what would be sent.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("payload", metavar="PAYLOAD.json", help="an Alertmanager webhook body")
    explain.add_argument("-o", "--output", choices=["text", "json"], default="text")
    explain.set_defaults(func=run, action=_explain)
