"""A silence's life, with Alertmanager's semantics (docs/silences.md).

A silence holds back the notifications of the alerts all its matchers match, from
``startsAt`` until ``endsAt``; one with no matchers is the global suppression flag. Its
state follows from the clock: ``pending`` before it starts, ``active`` while in force,
``expired`` from ``endsAt`` on (expiring it moves ``endsAt`` to now).

An "until resolved" silence also ends by itself once every incident it counts has been
resolved for its grace period (:func:`resolved_end`); extending moves ``endsAt`` later
(:func:`check_extension`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta

__all__ = [
    "SilenceEnded",
    "SilenceState",
    "check_extension",
    "expiry",
    "resolved_end",
    "state_at",
]


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


class SilenceEnded(ValueError):
    """The silence is over: it cannot be extended (create a new one)."""


def resolved_end(resolved_at: Iterable[datetime | None], grace: timedelta, now: datetime) -> bool:
    """Whether an "until resolved" silence ends at ``now``, given the incidents it counts
    (``resolved_at`` of each, None while it fires): it has counted at least one, none fires,
    and the last resolved ``grace`` ago or more. One that counted none yet holds on."""
    ends = list(resolved_at)
    if not ends or any(end is None for end in ends):
        return False
    return max(end for end in ends if end is not None) + grace <= now


def check_extension(
    ends_at: datetime, new_end: datetime, now: datetime, latest: datetime | None
) -> None:
    """Refuse moving the end of a silence ending at ``ends_at`` to ``new_end`` at ``now``:
    :class:`SilenceEnded` when it is over, ``ValueError`` when ``new_end`` is not later or
    is after ``latest`` (an "until resolved" silence's maximum; None: no maximum)."""
    if ends_at <= now:
        raise SilenceEnded(f"the silence ended at {ends_at.isoformat()}: create a new one")
    if new_end <= ends_at:
        raise ValueError(
            f"the new end must be after the current one ({ends_at.isoformat()}); "
            "to end it sooner, expire it"
        )
    if latest is not None and new_end > latest:
        raise ValueError(
            f"an until-resolved silence may end at {latest.isoformat()} at the latest "
            "(silences.until_resolved_max from now)"
        )
