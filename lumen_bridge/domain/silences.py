"""A silence's life, with Alertmanager's semantics (docs/silences.md).

A silence holds back the notifications of the alerts all its matchers match, from
``startsAt`` until ``endsAt``; one with no matchers is the global suppression flag. Its
state follows from the clock: ``pending`` before it starts, ``active`` while in force,
``expired`` from ``endsAt`` on (expiring it moves ``endsAt`` to now).
"""

from __future__ import annotations

import enum
from datetime import datetime

__all__ = ["SilenceState", "expiry", "state_at"]


class SilenceState(enum.StrEnum):
    """Where a silence is in its life."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


def state_at(starts_at: datetime, ends_at: datetime, now: datetime) -> SilenceState:
    """The state at ``now`` of a silence in force from ``starts_at`` until ``ends_at``."""
    if now >= ends_at:
        return SilenceState.EXPIRED
    return SilenceState.ACTIVE if now >= starts_at else SilenceState.PENDING


def expiry(starts_at: datetime, ends_at: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The new (startsAt, endsAt) of a silence expired at ``now`` (unchanged when already over)."""
    if now >= ends_at:
        return starts_at, ends_at
    return min(starts_at, now), now
