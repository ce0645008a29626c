"""emit-metrics: the pipeline's textfile exporter (placeholder, being written)."""

from __future__ import annotations

import argparse

DESCRIPTION = "Write lumen.prom for node_exporter's textfile collector."
EPILOG = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emit-metrics options to ``parser``."""


def run(args: argparse.Namespace) -> int:
    """Write the textfile; return the exit code."""
    return 0
