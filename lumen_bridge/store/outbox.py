"""The outbox's delivery side: claim due rows, and know when the next one falls due.

``claim`` moves due rows — pending and past ``next_attempt_at``, or in flight past
their lease (their worker died) — to ``in_flight`` with a fresh lease, in one
statement. On PostgreSQL the row selection is ``FOR UPDATE SKIP LOCKED``, so two
replicas never claim one row; on SQLite every transaction is ``BEGIN IMMEDIATE``
and so already exclusive. Claiming increments ``attempts``, which then serves as a
fencing token (:mod:`lumen_bridge.store.attempts`): a worker whose lease was taken over
cannot overwrite the new owner's outcome. Rows are added by the pipeline, with its
decisions (:mod:`lumen_bridge.store.sql.append`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    func,
    or_,
    select,
    update,
)

from lumen_bridge.domain.notification import AlertSnapshot, Delivery, Earlier, Notice
from lumen_bridge.store.models import Notification, NotificationItem, OutboxStatus

__all__ = ["claim", "next_due"]


def _due_parts(now: datetime) -> list[tuple[ColumnElement[bool], ColumnElement[bool]]]:
    """A row is due when pending past its time, or in flight past its lease."""
    return [
        (Notification.status == OutboxStatus.PENDING, Notification.next_attempt_at <= now),
        (Notification.status == OutboxStatus.IN_FLIGHT, Notification.lease_until <= now),
    ]


def due(now: datetime) -> ColumnElement[bool]:
    return or_(*(and_(*part) for part in _due_parts(now)))


def _candidates(connection: Connection, now: datetime, limit: int) -> list[int]:
    """The ids of up to ``limit`` due rows, oldest due first.

    Pending rows and expired leases are read apart, each in the order of the
    ``(status, next_attempt_at)`` index, so a claim reads ``limit`` index entries whatever
    the backlog (asked as one query with ``OR``, SQLite sorted the whole backlog for every
    claim).
    """
    rows = [
        row
        for where in _due_parts(now)
        for row in connection.execute(
            select(Notification.next_attempt_at, Notification.id)
            .where(*where)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
    ]
    return [outbox_id for _, outbox_id in sorted(rows)[:limit]]


def claim(
    connection: Connection, now: datetime, lease_until: datetime, limit: int, max_alerts: int
) -> list[Delivery]:
    """Claim up to ``limit`` due rows, oldest due first, carrying at most ``max_alerts``
    alerts in all (the first row is taken whatever its size).

    Each delivery's ``attempt`` is the row's new ``attempts``: the fencing token. A notice
    row's delivery carries its ``notice`` (and no alerts).
    """
    candidates = _candidates(connection, now, limit)
    if not candidates:
        return []
    counts = dict(
        connection.execute(
            select(NotificationItem.outbox_id, func.count())
            .where(NotificationItem.outbox_id.in_(candidates))
            .group_by(NotificationItem.outbox_id)
        ).all()
    )
    ids: list[int] = []
    alerts = 0
    for outbox_id in candidates:
        count = counts.get(outbox_id, 0)
        if ids and alerts + count > max_alerts:
            break
        ids.append(outbox_id)
        alerts += count
    chosen = (  # still due: another replica may have taken some meanwhile
        select(Notification.id)
        .where(Notification.id.in_(ids), due(now))
        .with_for_update(skip_locked=True)
    )
    rows = connection.execute(
        update(Notification)
        .where(Notification.id.in_(chosen.scalar_subquery()))
        .values(
            status=OutboxStatus.IN_FLIGHT,
            lease_until=lease_until,
            attempts=Notification.attempts + 1,
        )
        .returning(
            Notification.id,
            Notification.receiver,
            Notification.kind,
            Notification.action,
            Notification.idempotency_key,
            Notification.created_at,
            Notification.attempts,
            Notification.notice,
        )
    ).all()
    if not rows:
        return []
    items = _items(connection, [r.id for r in rows])
    claimed = []
    for r in sorted(rows, key=lambda r: r.id):
        mine = items.get(r.id, [])
        claimed.append(
            Delivery(
                id=r.id,
                receiver=r.receiver,
                action=r.action,
                idempotency_key=r.idempotency_key,
                created_at=r.created_at,
                attempt=r.attempts,
                alerts=[cast(AlertSnapshot, item.snapshot) for item in mine],
                earlier=_earlier(connection, r.id, r.receiver, mine) if r.kind == "email" else [],
                notice=None if r.notice is None else cast(Notice, r.notice),
            )
        )
    return claimed


def _items(connection: Connection, ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    found: dict[int, list[Row[Any]]] = {}
    statement = (
        select(
            NotificationItem.outbox_id,
            NotificationItem.incident_id,
            NotificationItem.seq,
            NotificationItem.snapshot,
        )
        .where(NotificationItem.outbox_id.in_(ids))
        .order_by(NotificationItem.id)
    )
    for item in (connection.execute(statement)).all():
        found.setdefault(item.outbox_id, []).append(item)
    return found


def _earlier(
    connection: Connection, outbox_id: int, receiver: str, items: Sequence[Row[Any]]
) -> list[Earlier]:
    """The firing e-mails sent before to ``receiver`` for the same incidents, oldest first."""
    if all(item.seq == 1 for item in items):  # each incident's first notification
        return []
    rows = connection.execute(
        select(Notification.idempotency_key, Notification.created_at)
        .join(NotificationItem, NotificationItem.outbox_id == Notification.id)
        .where(
            NotificationItem.incident_id.in_(sorted({i.incident_id for i in items})),
            Notification.receiver == receiver,
            Notification.kind == "email",
            Notification.action == "firing",
            Notification.id < outbox_id,
        )
        .group_by(Notification.id, Notification.idempotency_key, Notification.created_at)
        .order_by(Notification.id)
    )
    return [Earlier(key, created_at) for key, created_at in rows.all()]


def next_due(connection: Connection) -> datetime | None:
    """When the earliest pending row is due or the earliest lease ends."""
    earliest = (
        select(func.min(Notification.next_attempt_at)).where(
            Notification.status == OutboxStatus.PENDING
        ),
        select(func.min(Notification.lease_until)).where(
            Notification.status == OutboxStatus.IN_FLIGHT
        ),
    )
    found = [when for when in map(connection.scalar, earliest) if when is not None]
    return min(found, default=None)
