"""The ``lumen-bridge`` command line: one module per group of subcommands."""

from lumen_bridge.cli.main import main

__all__ = ["main"]
