"""The ``lumen-bridge`` command: its parser, with every subcommand and its ``--help``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lumen_bridge import __version__
from lumen_bridge.cli import ack, admin, audit, emit_metrics, explain, serve, silence

__all__ = ["build_parser", "main"]

EXAMPLES = """\
examples:
  lumen-bridge serve                              # 127.0.0.1:9095, SQLite lumen-bridge.db
  LUMEN_ALERT_TOKEN=... LUMEN_ADMIN_TOKEN=... lumen-bridge serve --host 0.0.0.0
  LUMEN_DATABASE_URL=postgresql+asyncpg://lumen@db/lumen lumen-bridge db upgrade
  lumen-bridge check-config --config /etc/lumen-bridge.yaml
  lumen-bridge emit-metrics --stage build=ok:42 --stage pdf=fail --integrity ok
  lumen-bridge silence add alertname=LumenStageFailed --duration 2h --comment "maintenance"
  lumen-bridge explain alert.json                  # what the bridge would do with it, and why
  lumen-bridge audit --actor alice                # who did what
  lumen-bridge ack 42 --comment "on it"           # no more reminders or escalation

The configuration is --config, else config/lumen-bridge.yaml when present,
else the built-in default; both read the LUMEN_* and SMTP_* variables.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lumen-bridge",
        description="Incident bridge between Prometheus Alertmanager and on-call people.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lumen-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config",
            type=Path,
            metavar="PATH",
            help="YAML configuration (default: config/lumen-bridge.yaml if present, "
            "else the built-in default)",
        )
        return p

    serve_parser = with_config(
        sub.add_parser(
            "serve",
            help="run the webhook receiver (applies database migrations first)",
            description="Serve the HTTP API: /webhook, /silence, /incidents, /healthz, /readyz, "
            "/metrics.",
        )
    )
    serve_parser.add_argument("--host", help="address to bind (default from the config: 127.0.0.1)")
    serve_parser.add_argument(
        "--port", type=int, help="port to bind (default from the config: 9095)"
    )
    serve_parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address while LUMEN_ALERT_TOKEN or LUMEN_ADMIN_TOKEN is unset",
    )
    serve_parser.set_defaults(func=serve.serve)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = with_config(
        db_sub.add_parser("upgrade", help="apply the schema migrations up to this version's head")
    )
    upgrade.set_defaults(func=admin.db_upgrade)

    check = with_config(
        sub.add_parser(
            "check-config",
            help="validate the configuration; print every error as 'file:line: key.path: message'",
        )
    )
    check.set_defaults(func=admin.check_config)

    emit = sub.add_parser(
        "emit-metrics",
        help="write the pipeline's textfile metrics (lumen.prom) for node_exporter",
        description=emit_metrics.DESCRIPTION,
        epilog=emit_metrics.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    emit_metrics.add_arguments(emit)
    emit.set_defaults(func=emit_metrics.run)

    silence.register(sub)
    explain.register(sub)
    audit.register(sub)
    ack.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # the reader left (`... | head -1`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
