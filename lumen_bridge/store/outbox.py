"""Outbox repository: add rows, claim due rows, record each attempt, release on shutdown.

``claim`` moves due rows — pending and past ``next_attempt_at``, or in flight past
their lease (their worker died) — to ``in_flight`` with a fresh lease, in one
statement. On PostgreSQL the row selection is ``FOR UPDATE SKIP LOCKED``, so two
replicas never claim one row; on SQLite every transaction is ``BEGIN IMMEDIATE``
and so already exclusive. Claiming increments ``attempts``, which then serves as a
fencing token: a worker whose lease was taken over cannot overwrite the new owner's
outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    case,
    func,
    insert,
    or_,
    select,
    update,
)

from lumen_bridge.notifiers import Delivery, Earlier
from lumen_bridge.store.bulk import BulkInsert
from lumen_bridge.store.models import (
    Base,
    DeliveryAttempt,
    Notification,
    NotificationItem,
    OutboxStatus,
)


@dataclass(frozen=True, slots=True)
class NewNotification:
    """An outbox row to insert, with its items (``outbox_id`` is filled in by :func:`add`)."""

    row: dict[str, Any]
    items: list[dict[str, Any]]


_OUTBOX = Base.metadata.tables[Notification.__tablename__]
_INSERT_OUTBOX = BulkInsert(
    _OUTBOX,
    [
        "receiver",
        "kind",
        "action",
        "idempotency_key",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "lease_until",
        "delivered_at",
        "last_error",
    ],
    returning=["id", "idempotency_key"],
)
_INSERT_ITEMS = BulkInsert(
    Base.metadata.tables[NotificationItem.__tablename__],
    ["outbox_id", "incident_id", "seq", "action", "snapshot"],
)


def add(connection: Connection, notifications: Sequence[NewNotification]) -> None:
    """Insert ``notifications`` and their items: two statements for any number of them."""
    if not notifications:
        return
    ids = {  # by the unique idempotency key: one multi-row INSERT, in no promised order
        key: outbox_id
        for outbox_id, key in _INSERT_OUTBOX(connection, [n.row for n in notifications])
    }
    items = [
        item | {"outbox_id": ids[notification.row["idempotency_key"]]}
        for notification in notifications
        for item in notification.items
    ]
    _INSERT_ITEMS(connection, items)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended and what becomes of the row."""

    attempted_at: datetime
    result: str  # delivered, retry or dead
    status: OutboxStatus
    next_attempt_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


def _due(now: datetime) -> object:
    return or_(
        and_(Notification.status == OutboxStatus.PENDING, Notification.next_attempt_at <= now),
        and_(Notification.status == OutboxStatus.IN_FLIGHT, Notification.lease_until <= now),
    )


def claim(
    connection: Connection, now: datetime, lease_until: datetime, limit: int, max_alerts: int
) -> list[Delivery]:
    """Claim up to ``limit`` due rows, oldest due first, carrying at most ``max_alerts``
    alerts in all (the first row is taken whatever its size).

    Each delivery's ``attempt`` is the row's new ``attempts``: the fencing token.
    """
    first = (
        select(Notification.id, Notification.next_attempt_at)
        .where(_due(now))  # type: ignore[arg-type]
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
        .subquery()
    )
    alert_count = (  # counted for those rows only, not for the whole backlog
        select(func.count())
        .where(NotificationItem.outbox_id == first.c.id)
        .correlate(first)
        .scalar_subquery()
    )
    candidates = connection.execute(
        select(first.c.id, alert_count).order_by(first.c.next_attempt_at, first.c.id)
    ).all()
    ids: list[int] = []
    alerts = 0
    for outbox_id, count in candidates:
        if ids and alerts + count > max_alerts:
            break
        ids.append(outbox_id)
        alerts += count
    if not ids:
        return []
    chosen = (  # still due: another replica may have taken some meanwhile
        select(Notification.id)
        .where(Notification.id.in_(ids), _due(now))  # type: ignore[arg-type]
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
                alerts=[item.snapshot for item in mine],
                earlier=_earlier(connection, r.id, r.receiver, mine) if r.kind == "email" else [],
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
    when = case(
        (Notification.status == OutboxStatus.PENDING, Notification.next_attempt_at),
        else_=Notification.lease_until,
    )
    statement = select(func.min(when)).where(
        Notification.status.in_((OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT))
    )
    value: datetime | None = connection.scalar(statement)
    return value


def finish(connection: Connection, claimed: Delivery, outcome: Outcome) -> bool:
    """Record the attempt and the row's new state; False if the lease was lost meanwhile."""
    connection.execute(
        insert(DeliveryAttempt).values(
            outbox_id=claimed.id,
            attempted_at=outcome.attempted_at,
            result=outcome.result,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
    )
    delivered = outcome.status is OutboxStatus.DELIVERED
    result = connection.execute(
        update(Notification)
        .where(*_still_ours(claimed))
        .values(
            status=outcome.status,
            next_attempt_at=outcome.next_attempt_at,
            lease_until=None,
            delivered_at=outcome.attempted_at if delivered else None,
            last_error=None if delivered else outcome.error,
        )
    )
    return bool(result.rowcount)


def _still_ours(claimed: Delivery) -> tuple[ColumnElement[bool], ...]:
    """The row is still in flight under this claim (the attempt number is the fencing token)."""
    return (
        Notification.id == claimed.id,
        Notification.status == OutboxStatus.IN_FLIGHT,
        Notification.attempts == claimed.attempt,
    )


def release(connection: Connection, claimed: Sequence[Delivery], now: datetime) -> None:
    """Give unfinished claims back (graceful shutdown): pending again, the attempt undone."""
    for delivery in claimed:
        connection.execute(
            update(Notification)
            .where(*_still_ours(delivery))
            .values(
                status=OutboxStatus.PENDING,
                lease_until=None,
                next_attempt_at=now,
                attempts=Notification.attempts - 1,
            )
        )
