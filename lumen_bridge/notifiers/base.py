"""The notifier contract: one small protocol that every integration implements.

A notifier turns one outbox row (a :class:`~lumen_bridge.domain.notification.Delivery`)
into a message and says how the attempt ended (a :class:`Result`): delivered, worth
retrying, or permanently failed. It never sleeps, counts attempts or touches metrics; the
delivery worker (:mod:`lumen_bridge.delivery`) owns backoff, attempts, dead letters and
metrics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from lumen_bridge.domain.notification import Delivery

__all__ = ["Notifier", "Result", "Verdict"]


class Verdict(enum.StrEnum):
    """How one attempt ended, as the notifier classifies it."""

    DELIVERED = "delivered"
    RETRY = "retry"  # transient: 5xx, 429, 4xx SMTP replies, timeouts, refused connections
    PERMANENT = "permanent"  # retrying cannot help: other 4xx, 5xx SMTP replies, bad config


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one attempt."""

    verdict: Verdict
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the destination asked us to wait

    @classmethod
    def delivered(cls, status_code: int | None = None) -> Result:
        """A successful attempt."""
        return cls(Verdict.DELIVERED, status_code)


class Notifier(Protocol):
    """Sends one delivery and classifies the outcome; never raises for a failed send."""

    async def send(self, delivery: Delivery) -> Result:
        """Try once to deliver ``delivery``."""
        ...
