"""Silence repository: create, read, expire, and claim ended silences for replay.

``replayed_at`` marks a silence whose end has been handled. Claiming it is one
``UPDATE ... WHERE replayed_at IS NULL`` in the replay's own transaction: on
PostgreSQL a second replica blocks on the row, then finds it claimed; on SQLite the
transactions are exclusive anyway. A crash before the commit leaves it unclaimed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from lumen_bridge.silences import SilenceState, expiry
from lumen_bridge.store.models import Silence

MAX_EXPIRED = 1000
"""``GET /silence?state=expired`` lists at most this many, most recently ended first."""


async def add(
    session: AsyncSession,
    *,
    matchers: list[dict[str, Any]],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> Silence:
    """Store a new silence."""
    silence = Silence(
        id=str(uuid.uuid4()),
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=now,
        updated_at=now,
        replayed_at=None,
    )
    session.add(silence)
    await session.flush()
    return silence


async def get(session: AsyncSession, silence_id: str) -> Silence | None:
    """One silence, or None."""
    return await session.get(Silence, silence_id)


def _active_at(
    now: datetime | ColumnElement[datetime],
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return Silence.starts_at <= now, Silence.ends_at > now


_ACTIVE_MATCHERS = select(Silence.matchers).where(*_active_at(bindparam("now")))


def active_matchers(connection: Connection, now: datetime) -> list[list[dict[str, Any]]]:
    """The matchers of every silence active at ``now`` (the ``ACTIVE`` test of :func:`in_state`)."""
    return list(connection.scalars(_ACTIVE_MATCHERS, {"now": now}))


def in_state(session: Session, state: SilenceState, now: datetime) -> Sequence[Silence]:
    """Silences in ``state`` at ``now``: active by end, pending by start, expired latest first."""
    statement = select(Silence)
    if state is SilenceState.ACTIVE:
        statement = statement.where(*_active_at(now)).order_by(Silence.ends_at, Silence.id)
    elif state is SilenceState.PENDING:
        statement = statement.where(Silence.starts_at > now, Silence.ends_at > now).order_by(
            Silence.starts_at, Silence.id
        )
    else:
        statement = (
            statement.where(Silence.ends_at <= now)
            .order_by(Silence.ends_at.desc(), Silence.id)
            .limit(MAX_EXPIRED)
        )
    return session.scalars(statement).all()


async def expire(session: AsyncSession, silence_id: str, now: datetime) -> Silence | None:
    """End a silence at ``now`` (a no-op when it is already over); None when unknown."""
    silence = await session.get(Silence, silence_id, with_for_update=True)
    if silence is None:
        return None
    starts_at, ends_at = expiry(silence.starts_at, silence.ends_at, now)
    if (starts_at, ends_at) != (silence.starts_at, silence.ends_at):
        silence.starts_at, silence.ends_at, silence.updated_at = starts_at, ends_at, now
        await session.flush()
    return silence


def claim_ended(connection: Connection, now: datetime) -> list[str]:
    """Mark every silence that has ended by ``now`` and is not yet replayed; return their ids."""
    ended = connection.scalars(
        select(Silence.id)
        .where(Silence.ends_at <= now, Silence.replayed_at.is_(None))
        .order_by(Silence.id)
    ).all()
    claimed = []
    for silence_id in ended:
        result = connection.execute(
            update(Silence)
            .where(Silence.id == silence_id, Silence.replayed_at.is_(None))
            .values(replayed_at=now)
        )
        if result.rowcount:
            claimed.append(silence_id)
    return claimed


async def next_end(session: AsyncSession, now: datetime) -> datetime | None:
    """When the next silence ends after ``now`` (None when none is in force or pending)."""
    end: datetime | None = await session.scalar(
        select(func.min(Silence.ends_at)).where(Silence.ends_at > now)
    )
    return end
