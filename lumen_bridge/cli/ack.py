"""``lumen-bridge ack INCIDENT_ID``: acknowledge an incident on the running bridge
(docs/lifecycle.md), a client of ``POST /incidents/{id}/ack``."""

from __future__ import annotations

import argparse
from typing import Any

from lumen_bridge.cli.client import CliError, base_url, call, run

__all__ = ["register"]

EPILOG = """\
examples:
  lumen-bridge ack 42
  lumen-bridge ack 42 --comment "looking at the disk"

No reminders and no escalation for the incident's current firing episode; the ticket system,
if it was told, gets an update. environment: LUMEN_BRIDGE_URL (default
http://127.0.0.1:9095), LUMEN_ADMIN_TOKEN (the audit log records its name).
"""


async def _ack(args: argparse.Namespace) -> None:
    body = {"comment": args.comment} if args.comment else None
    answer = await call("POST", f"/incidents/{args.incident}/ack", body)
    if not isinstance(answer, dict) or "message" not in answer:
        raise CliError(f"unexpected answer from {base_url()}: not an acknowledgement")
    print(answer["message"])


def _incident(text: str) -> str:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError("an incident id: a number, as GET /incidents shows it")
    return text


def register(subcommands: Any) -> None:
    """Add ``ack`` to the ``lumen-bridge`` parser's subcommands."""
    ack = subcommands.add_parser(
        "ack",
        help="acknowledge an incident: no more reminders or escalation for this episode",
        description="Acknowledge an incident on the running bridge.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ack.add_argument("incident", metavar="INCIDENT_ID", type=_incident)
    ack.add_argument("--comment", help="what you are doing about it (the audit log keeps it)")
    ack.set_defaults(func=run, action=_ack)
