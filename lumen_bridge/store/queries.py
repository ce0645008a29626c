"""Read side: incidents and their timelines for the API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen_bridge.store.models import (
    AlertEvent,
    DeliveryAttempt,
    Incident,
    Notification,
    NotificationItem,
)


async def list_incidents(
    session: AsyncSession,
    *,
    status: str | None,
    receiver: str | None,
    alertname: str | None,
    limit: int,
) -> Sequence[Incident]:
    """Incidents, most recent activity first."""
    statement = select(Incident).order_by(Incident.last_seen.desc(), Incident.id.desc())
    if status is not None:
        statement = statement.where(Incident.status == status)
    if receiver is not None:
        statement = statement.where(Incident.receiver == receiver)
    if alertname is not None:
        statement = statement.where(Incident.alertname == alertname)
    return (await session.scalars(statement.limit(limit))).all()


async def incident_timeline(
    session: AsyncSession, incident_id: int
) -> (
    tuple[
        Incident,
        Sequence[AlertEvent],
        Sequence[tuple[Notification, NotificationItem]],
        Sequence[DeliveryAttempt],
    ]
    | None
):
    """An incident, its alerts, its notifications and their attempts (None if unknown)."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        return None
    events = (
        await session.scalars(
            select(AlertEvent).where(AlertEvent.incident_id == incident_id).order_by(AlertEvent.id)
        )
    ).all()
    notifications = (
        await session.execute(
            select(Notification, NotificationItem)
            .join(NotificationItem, NotificationItem.outbox_id == Notification.id)
            .where(NotificationItem.incident_id == incident_id)
            .order_by(Notification.id)
        )
    ).all()
    attempts = (
        await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.outbox_id.in_([n.id for n, _ in notifications]))
            .order_by(DeliveryAttempt.id)
        )
    ).all()
    return incident, events, notifications, attempts
