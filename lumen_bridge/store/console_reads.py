"""What the web console reads besides :mod:`lumen_bridge.store.read_models`: incidents
searched and paged, delivery health per receiver, and the dead notifications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, String, case, cast, func, or_, select

from lumen_bridge.store.models import (
    Incident,
    IncidentStatus,
    Notification,
    NotificationItem,
    OutboxStatus,
)

__all__ = [
    "DeadNotification",
    "IncidentQuery",
    "ReceiverHealth",
    "dead_notifications",
    "delivery_health",
    "search_incidents",
    "severities",
]


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    """Which incidents to list: each filter is optional; ``text`` is searched in the alert
    name, the labels and the annotations."""

    status: str | None = None
    receiver: str | None = None
    severity: str | None = None
    text: str | None = None
    offset: int = 0
    limit: int = 50


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_incidents(connection: Connection, query: IncidentQuery) -> Sequence[Row[Any]]:
    """Incidents matching ``query``, firing first, then most recent activity first; one more
    than ``query.limit`` when there is a next page."""
    firing_first = case((Incident.status == IncidentStatus.FIRING, 0), else_=1)
    statement = select(Incident).order_by(
        firing_first, Incident.last_seen.desc(), Incident.id.desc()
    )
    if query.status is not None:
        statement = statement.where(Incident.status == query.status)
    if query.receiver is not None:
        statement = statement.where(Incident.receiver == query.receiver)
    if query.severity is not None:
        statement = statement.where(Incident.severity == query.severity)
    if query.text:
        pattern = _like(query.text)
        statement = statement.where(
            or_(
                Incident.alertname.ilike(pattern, escape="\\"),
                cast(Incident.labels, String).ilike(pattern, escape="\\"),
                cast(Incident.annotations, String).ilike(pattern, escape="\\"),
            )
        )
    return connection.execute(statement.offset(query.offset).limit(query.limit + 1)).all()


def severities(connection: Connection) -> list[str]:
    """Every severity an incident has, sorted."""
    found = connection.scalars(
        select(Incident.severity).where(Incident.severity.is_not(None)).distinct()
    )
    return sorted(s for s in found if s is not None)


@dataclass(slots=True)
class ReceiverHealth:
    """A receiver's outbox: rows waiting their first try, being retried, and dead."""

    receiver: str
    pending: int = 0
    retrying: int = 0
    dead: int = 0
    delivered: int = 0


def delivery_health(connection: Connection, receivers: Sequence[str]) -> list[ReceiverHealth]:
    """Outbox counts per receiver (every receiver of ``receivers``, and any other found)."""
    health = {name: ReceiverHealth(name) for name in receivers}
    retried = Notification.attempts > 0
    rows = connection.execute(
        select(
            Notification.receiver,
            Notification.status,
            case((retried, 1), else_=0).label("retried"),
            func.count(),
        ).group_by(Notification.receiver, Notification.status, "retried")
    ).all()
    for receiver, status, was_retried, count in rows:
        entry = health.setdefault(receiver, ReceiverHealth(receiver))
        if status == OutboxStatus.DEAD:
            entry.dead += count
        elif status == OutboxStatus.DELIVERED:
            entry.delivered += count
        elif status == OutboxStatus.IN_FLIGHT or was_retried:
            entry.retrying += count
        else:
            entry.pending += count
    return list(health.values())


@dataclass(frozen=True, slots=True)
class DeadNotification:
    """A notification that can never be delivered, with the incidents it carried."""

    row: Row[Any]
    incidents: list[tuple[int, str]]
    """``(incident id, alert name)`` of each item."""


def dead_notifications(connection: Connection, limit: int = 100) -> list[DeadNotification]:
    """The most recent dead notifications, newest first."""
    rows = connection.execute(
        select(Notification)
        .where(Notification.status == OutboxStatus.DEAD)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()
    carried: dict[int, list[tuple[int, str]]] = {}
    items = connection.execute(
        select(NotificationItem.outbox_id, Incident.id, Incident.alertname)
        .join(Incident, Incident.id == NotificationItem.incident_id)
        .where(NotificationItem.outbox_id.in_([r.id for r in rows]))
        .order_by(NotificationItem.id)
    )
    for outbox_id, incident_id, alertname in items:
        carried.setdefault(outbox_id, []).append((incident_id, alertname))
    return [DeadNotification(row, carried.get(row.id, [])) for row in rows]
