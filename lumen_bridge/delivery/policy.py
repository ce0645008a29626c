"""The retry policy: what becomes of an outbox row after an attempt, and when to try again.

Pure: it reads no clock and sends nothing. Backoff is exponential with "equal jitter"
(half fixed, half random), from ``outbox.initial_backoff`` up to ``outbox.max_backoff``;
a ``Retry-After`` the destination sent is a floor (capped at :data:`MAX_RETRY_AFTER`). A
permanent failure, or a retryable one at ``outbox.max_attempts``, ends the row as ``dead``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lumen_bridge.config import OutboxConfig
from lumen_bridge.notifiers import Result, Verdict
from lumen_bridge.store.models import OutboxStatus

__all__ = ["MAX_RETRY_AFTER", "Next", "RetryPolicy"]

MAX_RETRY_AFTER = 3600.0
"""A ``Retry-After`` beyond this many seconds is capped."""


@dataclass(frozen=True, slots=True)
class Next:
    """What becomes of a row after an attempt."""

    status: OutboxStatus
    """``delivered``, ``pending`` (to be retried) or ``dead``."""
    result: str
    """``delivered``, ``retry`` or ``dead``: the attempt's record and metric label."""
    at: datetime
    """When the row is due again (for a retry), else when the attempt ended."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff and dead-lettering, as configured; ``jitter`` returns a number in [0, 1)."""

    config: OutboxConfig
    jitter: Callable[[], float] = random.random

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before retry number ``attempt`` (1 = the first retry)."""
        cap = self.config.max_backoff.total_seconds()
        doublings = min(attempt - 1, 64)  # past the cap long before; 2.0**1024 overflows
        base = min(cap, self.config.initial_backoff.total_seconds() * 2.0**doublings)
        delay: float = base / 2 + self.jitter() * base / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay

    def next(self, result: Result, attempt: int, now: datetime) -> Next:
        """What follows attempt number ``attempt`` (1 for the first) that ended at ``now``."""
        if result.verdict is Verdict.DELIVERED:
            return Next(OutboxStatus.DELIVERED, "delivered", now)
        if result.verdict is Verdict.RETRY and attempt < self.config.max_attempts:
            delay = self.backoff(attempt, result.retry_after)
            return Next(OutboxStatus.PENDING, "retry", now + timedelta(seconds=delay))
        return Next(OutboxStatus.DEAD, "dead", now)
