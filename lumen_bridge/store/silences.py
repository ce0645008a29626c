"""Silence repository: create, read, extend, expire, and claim ended silences for replay.

``replayed_at`` marks a silence whose end has been handled. Claiming it is one
``UPDATE ... WHERE replayed_at IS NULL`` in the replay's own transaction: on
PostgreSQL a second replica blocks on the row, then finds it claimed; on SQLite the
transactions are exclusive anyway. A crash before the commit leaves it unclaimed.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, bindparam, insert, select, update

from lumen_bridge.domain.schedule import Schedule, open_matchers
from lumen_bridge.domain.silences import SilenceState, expiry
from lumen_bridge.store.models import Silence

__all__ = [
    "MAX_EXPIRED",
    "SilenceRecord",
    "active_matchers",
    "add",
    "change",
    "claim_ended",
    "expire",
    "extend",
    "get",
    "holding",
    "in_state",
    "in_states",
]

MAX_EXPIRED = 1000
"""``GET /silence?state=expired`` lists at most this many, most recently ended first."""


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """One row of ``silences``."""

    id: str
    matchers: list[dict[str, Any]]
    """Alertmanager's matcher shape (``name``, ``value``, ``isRegex``, ``isEqual``)."""
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    replayed_at: datetime | None
    resolve_grace_s: int | None = None
    """Set for an "until resolved" silence (see :class:`~lumen_bridge.store.models.Silence`)."""
    schedule: dict[str, Any] | None = None
    """Set for a recurring maintenance window."""
    reminded_at: datetime | None = None
    digested_at: datetime | None = None


def _record(row: Row[Any]) -> SilenceRecord:
    return SilenceRecord(**row._mapping)


def add(
    connection: Connection,
    *,
    matchers: list[dict[str, Any]],
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
    resolve_grace_s: int | None = None,
    schedule: dict[str, Any] | None = None,
) -> SilenceRecord:
    """Store a new silence (``resolve_grace_s``: until resolved; ``schedule``: recurring)."""
    record = SilenceRecord(
        id=str(uuid.uuid4()),
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=now,
        updated_at=now,
        replayed_at=None,
        resolve_grace_s=resolve_grace_s,
        schedule=schedule,
    )
    connection.execute(insert(Silence).values(dataclasses.asdict(record)))
    return record


def get(connection: Connection, silence_id: str, *, lock: bool = False) -> SilenceRecord | None:
    """One silence, or None; ``lock``: locked until the transaction ends (PostgreSQL)."""
    statement = select(Silence).where(Silence.id == silence_id)
    row = connection.execute(statement.with_for_update() if lock else statement).one_or_none()
    return None if row is None else _record(row)


def _active_at(
    now: datetime | ColumnElement[datetime],
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return Silence.starts_at <= now, Silence.ends_at > now


_ACTIVE_MATCHERS = select(Silence.matchers, Silence.schedule).where(*_active_at(bindparam("now")))


def active_matchers(connection: Connection, now: datetime) -> list[list[dict[str, Any]]]:
    """The matchers of every silence holding at ``now``: active (the ``ACTIVE`` test of
    :func:`in_state`) and, for a recurring one, inside one of its windows."""
    rows = connection.execute(_ACTIVE_MATCHERS, {"now": now}).all()
    always = [matchers for matchers, schedule in rows if schedule is None]
    if len(always) == len(rows):
        return always
    return always + open_matchers([row for row in rows if row.schedule is not None], now)


def in_state(connection: Connection, state: SilenceState, now: datetime) -> list[SilenceRecord]:
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
    return [_record(row) for row in connection.execute(statement)]


def holding(connection: Connection, now: datetime) -> list[SilenceRecord]:
    """The silences that hold alerts back at ``now``: the active ones, a recurring one only
    inside one of its windows (what :func:`active_matchers` matches with)."""
    return [
        silence
        for silence in in_state(connection, SilenceState.ACTIVE, now)
        if silence.schedule is None or Schedule.from_json(silence.schedule).open_at(now)
    ]


def in_states(
    connection: Connection, states: Iterable[SilenceState], now: datetime
) -> list[SilenceRecord]:
    """Silences in each of ``states`` at ``now``, state after state (see :func:`in_state`)."""
    return [silence for state in states for silence in in_state(connection, state, now)]


def expire(connection: Connection, silence_id: str, now: datetime) -> SilenceRecord | None:
    """End a silence at ``now`` (a no-op when it is already over); None when unknown."""
    row = connection.execute(
        select(Silence).where(Silence.id == silence_id).with_for_update()
    ).one_or_none()
    if row is None:
        return None
    silence = _record(row)
    starts_at, ends_at = expiry(silence.starts_at, silence.ends_at, now)
    if (starts_at, ends_at) == (silence.starts_at, silence.ends_at):
        return silence
    connection.execute(
        update(Silence)
        .where(Silence.id == silence_id)
        .values(starts_at=starts_at, ends_at=ends_at, updated_at=now)
    )
    return dataclasses.replace(silence, starts_at=starts_at, ends_at=ends_at, updated_at=now)


def change(
    connection: Connection,
    silence_id: str,
    *,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> SilenceRecord:
    """Change a silence's times, author and comment in place (it must exist)."""
    connection.execute(
        update(Silence)
        .where(Silence.id == silence_id)
        .values(
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            updated_at=now,
            replayed_at=None,
        )
    )
    found = get(connection, silence_id)
    assert found is not None
    return found


def extend(connection: Connection, silence_id: str, ends_at: datetime, now: datetime) -> None:
    """Move a silence's end to ``ends_at``: its reminder, digest and replay are due again."""
    connection.execute(
        update(Silence)
        .where(Silence.id == silence_id)
        .values(
            ends_at=ends_at, updated_at=now, reminded_at=None, digested_at=None, replayed_at=None
        )
    )


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
