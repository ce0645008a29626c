"""Escalation on ``incidents`` (docs/lifecycle.md): the pages that may be due, when each
episode was first paged, and a level raised once across replicas."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from lumen_bridge.domain.dedup import Action
from lumen_bridge.store.incidents import COLUMNS, IncidentRecord
from lumen_bridge.store.models import (
    CURRENT,
    Incident,
    IncidentStatus,
    Notification,
    NotificationItem,
)

__all__ = ["first_pages", "raise_level", "waiting"]

_FIRST_PAGES = (Action.OPEN.value, Action.REOPEN.value)


def waiting(
    connection: Connection, receivers: Collection[str], most_steps: int
) -> list[tuple[IncidentRecord, int, datetime | None]]:
    """The current incidents of ``receivers`` that are firing, were paged and are not
    acknowledged, below ``most_steps``: each with its level and when it last escalated."""
    rows = connection.execute(
        select(*COLUMNS, Incident.escalation_level, Incident.escalated_at).where(
            CURRENT,
            Incident.status == IncidentStatus.FIRING,
            Incident.notified,
            Incident.acked_at.is_(None),  # a new episode clears its ack
            Incident.receiver.in_(receivers),
            Incident.escalation_level < most_steps,
        )
    ).all()
    return [(IncidentRecord(*row[: len(COLUMNS)]), *row[len(COLUMNS) :]) for row in rows]


def first_pages(connection: Connection, ids: list[int | None]) -> dict[int | None, datetime]:
    """When each incident's current episode was first paged (its latest open or reopen)."""
    if not ids:
        return {}
    rows = connection.execute(
        select(NotificationItem.incident_id, func.max(Notification.created_at))
        .join(Notification, Notification.id == NotificationItem.outbox_id)
        .where(NotificationItem.incident_id.in_(ids), NotificationItem.action.in_(_FIRST_PAGES))
        .group_by(NotificationItem.incident_id)
    ).all()
    return {row[0]: row[1] for row in rows}


def raise_level(
    connection: Connection, incident: IncidentRecord, level: int, now: datetime
) -> bool:
    """Raise ``incident`` from ``level`` to the next, taking its next notification sequence,
    if it is still as read (same level and sequence, firing, not acknowledged): whoever comes
    second changes nothing and gets False."""
    seq = incident.notify_seq
    raised = connection.execute(
        update(Incident)
        .where(
            Incident.id == incident.id,
            Incident.escalation_level == level,
            Incident.notify_seq == seq,
            Incident.status == IncidentStatus.FIRING,
            Incident.acked_at.is_(None),
        )
        .values(escalation_level=level + 1, escalated_at=now, notify_seq=seq + 1)
    ).rowcount
    if raised:
        incident.notify_seq = seq + 1
    return bool(raised)
