"""What the API and the metrics read: incidents, one incident's timeline, and the gauges.

Read-only views over the tables, as rows (the API's response models validate them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from lumen_bridge.store.models import (
    AlertEvent,
    DeliveryAttempt,
    Incident,
    IncidentStatus,
    Notification,
    NotificationItem,
    OutboxStatus,
)

__all__ = [
    "Stats",
    "Timeline",
    "firing_incidents",
    "incident_timeline",
    "list_incidents",
    "stats",
]


def list_incidents(
    connection: Connection,
    *,
    status: str | None,
    receiver: str | None,
    alertname: str | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """Incidents, most recent activity first."""
    statement = select(Incident).order_by(Incident.last_seen.desc(), Incident.id.desc())
    if status is not None:
        statement = statement.where(Incident.status == status)
    if receiver is not None:
        statement = statement.where(Incident.receiver == receiver)
    if alertname is not None:
        statement = statement.where(Incident.alertname == alertname)
    return connection.execute(statement.limit(limit)).all()


def firing_incidents(connection: Connection) -> Sequence[Row[Any]]:
    """Every current incident that is firing, oldest first."""
    return connection.execute(
        select(Incident)
        .where(Incident.is_current, Incident.status == IncidentStatus.FIRING)
        .order_by(Incident.starts_at, Incident.id)
    ).all()


@dataclass(frozen=True, slots=True)
class Timeline:
    """An incident and what happened to it: its alerts, its notifications (each with the
    item that carried this incident) and their delivery attempts, oldest first."""

    incident: Row[Any]
    events: Sequence[Row[Any]]
    notifications: Sequence[Row[Notification, str]]
    """Each with the outbox row's columns plus the item's ``item_action``."""
    attempts: Sequence[Row[Any]]


def incident_timeline(connection: Connection, incident_id: int) -> Timeline | None:
    """The timeline of incident ``incident_id`` (None if there is none)."""
    incident = connection.execute(select(Incident).where(Incident.id == incident_id)).one_or_none()
    if incident is None:
        return None
    events = connection.execute(
        select(AlertEvent).where(AlertEvent.incident_id == incident_id).order_by(AlertEvent.id)
    ).all()
    notifications = connection.execute(
        select(Notification, NotificationItem.action.label("item_action"))
        .join(NotificationItem, NotificationItem.outbox_id == Notification.id)
        .where(NotificationItem.incident_id == incident_id)
        .order_by(Notification.id)
    ).all()
    attempts = connection.execute(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.outbox_id.in_([n.id for n in notifications]))
        .order_by(DeliveryAttempt.id)
    ).all()
    return Timeline(incident, events, notifications, attempts)


@dataclass(frozen=True, slots=True)
class Stats:
    """What the scrape-time gauges show."""

    outbox_pending: int
    outbox_oldest_age_seconds: float
    outbox_dead: int
    incidents_open: int


def stats(connection: Connection, now: datetime) -> Stats:
    """Count the backlog, dead letters and open incidents."""
    waiting = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT)
    pending, oldest = connection.execute(
        select(func.count(), func.min(Notification.created_at)).where(
            Notification.status.in_(waiting)
        )
    ).one()
    dead = connection.scalar(select(func.count()).where(Notification.status == OutboxStatus.DEAD))
    open_ = connection.scalar(
        select(func.count()).where(Incident.is_current, Incident.status == IncidentStatus.FIRING)
    )
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Stats(pending, max(age, 0.0), dead or 0, open_ or 0)
