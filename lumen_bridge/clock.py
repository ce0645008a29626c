"""The clock is injected everywhere time matters, so tests move it instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""


def system_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


def seconds_until(moment: datetime | None, now: datetime, at_most: timedelta) -> float:
    """How long a watcher waits from ``now`` for ``moment``: never more than ``at_most``
    (also when there is no moment), never less than zero."""
    until = now + at_most if moment is None else min(moment, now + at_most)
    return max((until - now).total_seconds(), 0.0)
