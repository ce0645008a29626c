"""Delivery attempts: each recorded, with its outbox row's new state, under the lease.

A claim increments the row's ``attempts``; the delivery carries that number as a fencing
token. An attempt's result is recorded only while the row is still in flight under that
number: a worker whose lease expired and was taken over by another (a slow send, a
paused process) cannot overwrite the new owner's outcome. The rows are locked from that
check until the commit, so the update that follows cannot go stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from lumen_bridge.domain.notification import Delivery
from lumen_bridge.store.models import Base, DeliveryAttempt, Notification, OutboxStatus
from lumen_bridge.store.sql.bulk import BulkInsert, BulkUpdate

__all__ = ["AttemptOutcome", "finish", "release"]

_OUTBOX = Base.metadata.tables[Notification.__tablename__]
_INSERT_ATTEMPTS = BulkInsert(
    Base.metadata.tables[DeliveryAttempt.__tablename__],
    ["outbox_id", "attempted_at", "result", "status_code", "error", "duration_ms"],
)
_FINISH = BulkUpdate(
    _OUTBOX, ["status", "next_attempt_at", "lease_until", "delivered_at", "last_error"]
)
_RELEASE = BulkUpdate(_OUTBOX, ["status", "attempts", "next_attempt_at", "lease_until"])


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """How an attempt ended and what becomes of the row."""

    attempted_at: datetime
    result: str  # delivered, retry or dead
    status: OutboxStatus
    next_attempt_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


def finish(
    connection: Connection, results: Sequence[tuple[Delivery, AttemptOutcome]]
) -> list[bool]:
    """Record each attempt and its row's new state, in three statements for any number;
    for each, whether the lease was still held (if not, the row is left to its new owner)."""
    if not results:
        return []
    _INSERT_ATTEMPTS(
        connection,
        [
            {
                "outbox_id": claimed.id,
                "attempted_at": outcome.attempted_at,
                "result": outcome.result,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "duration_ms": outcome.duration_ms,
            }
            for claimed, outcome in results
        ],
    )
    kept = _still_ours(connection, [claimed for claimed, _ in results])
    _FINISH(
        connection,
        [
            _new_state(claimed, outcome)
            for (claimed, outcome), mine in zip(results, kept, strict=True)
            if mine
        ],
    )
    return kept


def _new_state(claimed: Delivery, outcome: AttemptOutcome) -> dict[str, Any]:
    """The row's columns after ``outcome`` (for :data:`_FINISH`)."""
    delivered = outcome.status is OutboxStatus.DELIVERED
    return {
        "id": claimed.id,
        "status": outcome.status,
        "next_attempt_at": outcome.next_attempt_at,
        "lease_until": None,
        "delivered_at": outcome.attempted_at if delivered else None,
        "last_error": None if delivered else outcome.error,
    }


def _still_ours(connection: Connection, claimed: Sequence[Delivery]) -> list[bool]:
    """For each claim, whether its row is still in flight under it (the attempt number is
    the fencing token). The rows stay locked until the commit: an update that follows in
    the same transaction cannot go stale."""
    held = connection.execute(
        select(Notification.id, Notification.attempts)
        .where(
            Notification.id.in_([delivery.id for delivery in claimed]),
            Notification.status == OutboxStatus.IN_FLIGHT,
        )
        .with_for_update()
    )
    attempts = dict(held.all())
    return [attempts.get(delivery.id) == delivery.attempt for delivery in claimed]


def release(connection: Connection, claimed: Sequence[Delivery], now: datetime) -> None:
    """Give unfinished claims back (graceful shutdown): pending again, the attempt undone."""
    if not claimed:
        return
    _RELEASE(
        connection,
        [
            {
                "id": delivery.id,
                "status": OutboxStatus.PENDING,
                "lease_until": None,
                "next_attempt_at": now,
                "attempts": delivery.attempt - 1,
            }
            for delivery, mine in zip(claimed, _still_ours(connection, claimed), strict=True)
            if mine
        ],
    )
