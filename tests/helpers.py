"""Reading what the bridge stored, for assertions."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from lumen_bridge.keys import SESSIONS
from lumen_bridge.store.models import AlertEvent, Incident, Notification, NotificationItem


async def notifications(client: TestClient[Any, Any]) -> list[tuple[str, str, str, list[int]]]:
    """(receiver, kind, action, incident ids) of every outbox row, oldest first."""
    async with client.app[SESSIONS]() as session:
        rows = (
            await session.execute(
                select(Notification, NotificationItem)
                .join(NotificationItem, NotificationItem.outbox_id == Notification.id)
                .order_by(Notification.id, NotificationItem.id)
            )
        ).all()
    grouped: dict[int, tuple[str, str, str, list[int]]] = {}
    for notification, item in rows:
        entry = grouped.setdefault(
            notification.id, (notification.receiver, notification.kind, notification.action, [])
        )
        entry[3].append(item.incident_id)
    return list(grouped.values())


async def item_actions(client: TestClient[Any, Any]) -> list[str]:
    """The action of every outbox item, oldest first."""
    async with client.app[SESSIONS]() as session:
        return list(
            await session.scalars(select(NotificationItem.action).order_by(NotificationItem.id))
        )


async def incidents(client: TestClient[Any, Any]) -> list[Incident]:
    """Every incident row, oldest first."""
    async with client.app[SESSIONS]() as session:
        return list((await session.scalars(select(Incident).order_by(Incident.id))).all())


async def count_events(client: TestClient[Any, Any]) -> int:
    """How many alerts were stored."""
    async with client.app[SESSIONS]() as session:
        return int(await session.scalar(select(func.count()).select_from(AlertEvent)) or 0)
