"""A silence's reminder and digest (docs/silences.md): which silences are due, what they
hold, their claim, and the outbox row of the notice.

Exactly once: a notice is claimed with ``UPDATE silences SET reminded_at (or digested_at)
= now WHERE id = ? AND ends_at = ? AND ... IS NULL`` in the transaction that writes its
outbox row, and only a claim that changed the row queues it. On PostgreSQL a second
replica blocks on the row, then finds it claimed; SQLite transactions are exclusive. The
``ends_at`` term keeps a claim from marking a silence whose end moved meanwhile (an
extend sets both columns back to NULL).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, insert, or_, select, update

from lumen_bridge.domain.notification import Notice
from lumen_bridge.store.models import CURRENT, Incident, IncidentStatus, Notification, Silence
from lumen_bridge.store.silences import SilenceRecord

__all__ = [
    "NoticeKind",
    "SeenIncident",
    "claim",
    "digests_due",
    "enqueue",
    "held_firing",
    "in_force",
    "next_due",
    "reminders_due",
]


class NoticeKind(enum.StrEnum):
    """The ``kind`` label of ``lumen_bridge_silence_notices_total``, and the key's part."""

    REMINDER = "reminder"
    DIGEST = "digest"


_CLAIMED = {NoticeKind.REMINDER: Silence.reminded_at, NoticeKind.DIGEST: Silence.digested_at}


@dataclass(frozen=True, slots=True)
class SeenIncident:
    """What a notice says of one incident."""

    id: int
    receiver: str
    alertname: str
    severity: str | None
    labels: dict[str, str]
    firing: bool


_SEEN = select(
    Incident.id,
    Incident.receiver,
    Incident.alertname,
    Incident.severity,
    Incident.labels,
    Incident.status,
).where(CURRENT)


def _seen(connection: Connection, statement: Select[Any]) -> list[SeenIncident]:
    return [
        SeenIncident(id_, receiver, name, severity, labels, status == IncidentStatus.FIRING)
        for id_, receiver, name, severity, labels, status in connection.execute(
            statement.order_by(Incident.id)
        )
    ]


def reminders_due(
    connection: Connection, now: datetime, remind_before: timedelta
) -> list[SilenceRecord]:
    """Silences in force at ``now`` that end within ``remind_before`` and were not reminded
    of (for their present end)."""
    statement = select(Silence).where(
        Silence.starts_at <= now,
        Silence.ends_at > now,
        Silence.ends_at <= now + remind_before,
        Silence.reminded_at.is_(None),
    )
    rows = connection.execute(statement.order_by(Silence.ends_at, Silence.id))
    return [SilenceRecord(**row._mapping) for row in rows]


def digests_due(connection: Connection, now: datetime, since: datetime) -> list[SilenceRecord]:
    """Silences that ended after ``since`` and by ``now``, not yet digested."""
    statement = select(Silence).where(
        Silence.ends_at > since, Silence.ends_at <= now, Silence.digested_at.is_(None)
    )
    rows = connection.execute(statement.order_by(Silence.ends_at, Silence.id))
    return [SilenceRecord(**row._mapping) for row in rows]


def held_firing(connection: Connection) -> list[SeenIncident]:
    """Every current incident that is firing and whose notification is held back."""
    return _seen(connection, _SEEN.where(Incident.held, Incident.status == IncidentStatus.FIRING))


def in_force(connection: Connection, starts_at: datetime, ends_at: datetime) -> list[SeenIncident]:
    """Every current incident whose present or last episode was firing at some moment from
    ``starts_at`` until ``ends_at``: it started before the end, and it is still firing or it
    resolved after the start."""
    overlaps = or_(Incident.status == IncidentStatus.FIRING, Incident.resolved_at >= starts_at)
    return _seen(connection, _SEEN.where(Incident.starts_at < ends_at, overlaps))


def claim(connection: Connection, silence: SilenceRecord, kind: NoticeKind, now: datetime) -> bool:
    """Mark ``silence``'s ``kind`` as sent at ``now``, if nobody did for its present end."""
    column = _CLAIMED[kind]
    result = connection.execute(
        update(Silence)
        .where(Silence.id == silence.id, Silence.ends_at == silence.ends_at, column.is_(None))
        .values({column: now})
    )
    return bool(result.rowcount)


def enqueue(
    connection: Connection,
    receiver: str,
    silence: SilenceRecord,
    kind: NoticeKind,
    notice: Notice,
    now: datetime,
) -> bool:
    """Queue ``notice``, ``silence``'s ``kind``, to e-mail ``receiver``, under the key
    ``lumen-silence-ID-KIND-END`` (END: its end in Unix seconds); False when that key was
    queued before (a silence moved back to an end it was already told of)."""
    key = f"lumen-silence-{silence.id}-{kind}-{int(silence.ends_at.timestamp())}"
    taken = connection.scalar(select(Notification.id).where(Notification.idempotency_key == key))
    if taken is not None:
        return False
    connection.execute(
        insert(Notification).values(
            receiver=receiver,
            kind="email",
            action="notice",
            idempotency_key=key,
            created_at=now,
            next_attempt_at=now,
            notice=dict(notice),
        )
    )
    return True


def next_due(connection: Connection, now: datetime, remind_before: timedelta) -> datetime | None:
    """When the next reminder falls due or the next silence ends, after ``now``."""
    ends = connection.scalar(select(func.min(Silence.ends_at)).where(Silence.ends_at > now))
    reminded = connection.scalar(
        select(func.min(Silence.ends_at)).where(
            Silence.ends_at > now + remind_before, Silence.reminded_at.is_(None)
        )
    )
    found = [ends, None if reminded is None else reminded - remind_before]
    return min((when for when in found if when is not None), default=None)
