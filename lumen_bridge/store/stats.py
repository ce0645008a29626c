"""Figures for the gauges, read from the database at scrape time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen_bridge.store.models import Incident, Notification, OutboxStatus


@dataclass(frozen=True)
class Stats:
    """What the scrape-time gauges show."""

    outbox_pending: int
    outbox_oldest_age_seconds: float
    outbox_dead: int
    incidents_open: int


async def read_stats(session: AsyncSession, now: datetime) -> Stats:
    """Count the backlog, dead letters and open incidents."""
    waiting = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT)
    pending, oldest = (
        await session.execute(
            select(func.count(), func.min(Notification.created_at)).where(
                Notification.status.in_(waiting)
            )
        )
    ).one()
    dead = await session.scalar(
        select(func.count()).where(Notification.status == OutboxStatus.DEAD)
    )
    open_ = await session.scalar(
        select(func.count()).where(Incident.is_current, Incident.status == "firing")
    )
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Stats(pending, max(age, 0.0), dead or 0, open_ or 0)
