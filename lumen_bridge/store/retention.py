"""Retention: what is older than the cutoff (now - ``retention.max_age``) goes, a batch at a time.

Each function deletes one batch in the caller's transaction and returns the rows it deleted,
by table; :data:`STEPS` runs them in the order the foreign keys need:

- :func:`prune_outbox`: delivered or dead outbox rows whose last attempt ended before the
  cutoff, with their items and attempts. For a finished row, ``next_attempt_at`` is when its
  last attempt ended (the worker sets it so), and the ``(status, next_attempt_at)`` index
  finds the old rows without reading the others.
- :func:`prune_incidents`: resolved incidents resolved, and last seen, before the cutoff that
  no outbox row carries any more, with their alert events. The outbox goes first, so an
  incident whose notification is still pending or in flight stays (its item holds it).
- :func:`prune_unrouted`: alert events no route took (no incident) received before the cutoff.

A batch is at most ``limit`` rows in all: parents are taken oldest first while they fit with
their children, and at least one (a parent larger than ``limit`` goes alone, as it came). On
PostgreSQL the chosen parents are locked ``FOR UPDATE SKIP LOCKED``: a webhook that holds an
incident is not waited for (the incident is left to the next pass), and replicas pruning at
the same time share the work instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute

from lumen_bridge.store.models import (
    AlertEvent,
    DeliveryAttempt,
    Incident,
    IncidentStatus,
    Notification,
    NotificationItem,
    OutboxStatus,
)

__all__ = ["STEPS", "TABLES", "Pruned", "Step", "prune_incidents", "prune_outbox", "prune_unrouted"]

Pruned = dict[str, int]
"""Rows deleted, by table name."""

Step = Callable[[Connection, datetime, int], Pruned]
"""Deletes one batch of at most ``limit`` rows older than ``cutoff``: ``step(connection,
cutoff, limit)``."""

TABLES = ("incidents", "alert_events", "outbox", "outbox_items", "delivery_attempts")
"""Every table retention deletes from (the ``table`` label of the pruned rows counter)."""

_FINISHED = (OutboxStatus.DELIVERED, OutboxStatus.DEAD)


def _children(
    connection: Connection, column: InstrumentedAttribute[Any], parents: Sequence[int]
) -> dict[int, int]:
    """How many rows of ``column``'s table reference each of ``parents``."""
    counted = connection.execute(
        select(column, func.count()).where(column.in_(parents)).group_by(column)
    )
    return dict(counted.all())


def _fitting(candidates: Sequence[int], children: Mapping[int, int], limit: int) -> list[int]:
    """The first ``candidates`` that fit in ``limit`` rows with their children (at least one)."""
    chosen: list[int] = []
    rows = 0
    for parent in candidates:
        rows += 1 + children.get(parent, 0)
        if chosen and rows > limit:
            break
        chosen.append(parent)
    return chosen


def _delete(connection: Connection, column: InstrumentedAttribute[Any], ids: Sequence[int]) -> int:
    """Delete the rows whose ``column`` is one of ``ids``; how many went."""
    return connection.execute(delete(column.class_).where(column.in_(ids))).rowcount


def prune_outbox(connection: Connection, cutoff: datetime, limit: int) -> Pruned:
    """Delete a batch of outbox rows finished before ``cutoff``, with items and attempts."""
    candidates = [
        outbox_id
        for status in _FINISHED
        for outbox_id in connection.scalars(
            select(Notification.id)
            .where(Notification.status == status, Notification.next_attempt_at < cutoff)
            .order_by(Notification.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ]
    items = _children(connection, NotificationItem.outbox_id, candidates)
    tries = _children(connection, DeliveryAttempt.outbox_id, candidates)
    children = {c: items.get(c, 0) + tries.get(c, 0) for c in candidates}
    chosen = _fitting(candidates, children, limit)
    return {
        "delivery_attempts": _delete(connection, DeliveryAttempt.outbox_id, chosen),
        "outbox_items": _delete(connection, NotificationItem.outbox_id, chosen),
        "outbox": _delete(connection, Notification.id, chosen),
    }


def prune_incidents(connection: Connection, cutoff: datetime, limit: int) -> Pruned:
    """Delete a batch of incidents resolved before ``cutoff`` that no notification carries,
    with their alert events."""
    carried = exists().where(NotificationItem.incident_id == Incident.id)
    candidates = list(
        connection.scalars(
            select(Incident.id)
            .where(
                Incident.last_seen < cutoff,
                Incident.status == IncidentStatus.RESOLVED,
                Incident.resolved_at < cutoff,
                ~carried,
            )
            .order_by(Incident.last_seen)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    events = _children(connection, AlertEvent.incident_id, candidates)
    chosen = _fitting(candidates, events, limit)
    return {
        "alert_events": _delete(connection, AlertEvent.incident_id, chosen),
        "incidents": _delete(connection, Incident.id, chosen),
    }


def prune_unrouted(connection: Connection, cutoff: datetime, limit: int) -> Pruned:
    """Delete a batch of alert events that no route took, received before ``cutoff``."""
    old = (
        select(AlertEvent.id)
        .where(AlertEvent.incident_id.is_(None), AlertEvent.received_at < cutoff)
        .limit(limit)
    )
    deleted = connection.execute(delete(AlertEvent).where(AlertEvent.id.in_(old))).rowcount
    return {"alert_events": deleted}


STEPS: tuple[Step, ...] = (
    prune_outbox,
    prune_incidents,
    prune_unrouted,
)
"""The steps of a pass, in order: the outbox before the incidents its items reference."""
