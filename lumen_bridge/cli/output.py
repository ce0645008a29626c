"""How the command-line clients print: aligned tables and UTC times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = ["table", "utc"]


def utc(value: datetime) -> str:
    """``value`` as ``2026-12-08 01:30:00 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``rows`` under ``header`` in aligned columns; the last column is not padded (it may
    be long: a comment)."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)), line[-1]]
        ).rstrip()
        for line in lines
    )
