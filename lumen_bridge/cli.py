"""The ``lumen-bridge`` command and its subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lumen_bridge import __version__, exporter


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lumen-bridge",
        description="Incident bridge between Prometheus Alertmanager and on-call people.",
    )
    parser.add_argument("--version", action="version", version=f"lumen-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emit = sub.add_parser(
        "emit-metrics",
        help="write the pipeline's textfile metrics (lumen.prom) for node_exporter",
        description=exporter.DESCRIPTION,
        epilog=exporter.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exporter.add_arguments(emit)
    emit.set_defaults(func=exporter.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
