"""Reading what the bridge stored, for assertions; and watching its SQLite writer."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient
from sqlalchemy import Connection, Row, func, select

from lumen_bridge.api.keys import RUNNER
from lumen_bridge.store.models import AlertEvent, Incident, Notification, NotificationItem

T = TypeVar("T")


async def read(client: TestClient[Any, Any], work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a read transaction of the bridge's own database runner."""
    return await client.app[RUNNER].read(work)


async def rows(client: TestClient[Any, Any], statement: Any) -> Sequence[Row[Any]]:
    """Every row ``statement`` selects."""
    return await read(client, lambda connection: connection.execute(statement).all())


async def notifications(client: TestClient[Any, Any]) -> list[tuple[str, str, str, list[int]]]:
    """(receiver, kind, action, incident ids) of every outbox row, oldest first."""
    found = await rows(
        client,
        select(
            Notification.id,
            Notification.receiver,
            Notification.kind,
            Notification.action,
            NotificationItem.incident_id,
        )
        .join(NotificationItem, NotificationItem.outbox_id == Notification.id)
        .order_by(Notification.id, NotificationItem.id),
    )
    grouped: dict[int, tuple[str, str, str, list[int]]] = {}
    for outbox_id, receiver, kind, action, incident_id in found:
        grouped.setdefault(outbox_id, (receiver, kind, action, []))[3].append(incident_id)
    return list(grouped.values())


async def item_actions(client: TestClient[Any, Any]) -> list[str]:
    """The action of every outbox item, oldest first."""
    found = await rows(client, select(NotificationItem.action).order_by(NotificationItem.id))
    return [action for (action,) in found]


async def incidents(client: TestClient[Any, Any]) -> list[Row[Any]]:
    """Every incident row, oldest first."""
    return list(await rows(client, select(Incident).order_by(Incident.id)))


async def count_events(client: TestClient[Any, Any]) -> int:
    """How many alerts were stored."""
    [(count,)] = await rows(client, select(func.count()).select_from(AlertEvent))
    return int(count)


async def write_lock_held(db: Path, at_least: float) -> None:
    """Return once a transaction has held SQLite's write lock on ``db`` for ``at_least``
    seconds (longer than the serving process's own small transactions take)."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None)
    held_since: float | None = None
    try:
        while held_since is None or time.monotonic() - held_since < at_least:
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # "database is locked": a writer is at work
                held_since = held_since or time.monotonic()
            else:
                probe.execute("ROLLBACK")
                held_since = None
            await asyncio.sleep(0.002)
    finally:
        probe.close()
