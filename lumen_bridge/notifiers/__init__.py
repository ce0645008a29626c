"""Notifiers: one module per integration behind one small protocol.

A notifier turns one outbox row (a :class:`Delivery`) into a message and says how
the attempt ended (a :class:`Result`): delivered, worth retrying, or permanently
failed. It never sleeps, counts attempts or touches metrics; the outbox worker
(:mod:`lumen_bridge.outbox`) owns backoff, attempts, dead letters and metrics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["Delivery", "Earlier", "Notifier", "Result", "Verdict"]


class Verdict(enum.StrEnum):
    """How one attempt ended, as the notifier classifies it."""

    DELIVERED = "delivered"
    RETRY = (
        "retry"  # a transient failure: 5xx, 429, 4xx SMTP replies, timeouts, refused connections
    )
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


@dataclass(frozen=True, slots=True)
class Earlier:
    """A notification sent before for the same incidents (e-mail threads under it)."""

    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as a notifier sees it."""

    id: int
    receiver: str
    action: str
    idempotency_key: str
    created_at: datetime
    attempt: int
    alerts: list[dict[str, Any]]  # the snapshot of each incident, as decided
    earlier: list[Earlier] = field(default_factory=list)


class Notifier(Protocol):
    """Sends one delivery and classifies the outcome; never raises for a failed send."""

    async def send(self, delivery: Delivery) -> Result:
        """Try once to deliver ``delivery``."""
        ...
