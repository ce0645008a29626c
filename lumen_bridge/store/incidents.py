"""Incident repository: claim and lock the current incident of each alert identity.

Concurrency comes from the database. ``claim`` inserts a row for every key that has
no current incident, ``ON CONFLICT DO NOTHING`` against the partial unique index, in
key order; ``lock`` then selects the current rows ``FOR UPDATE`` (PostgreSQL; SQLite
transactions are ``BEGIN IMMEDIATE`` and so already exclusive). Whoever comes second
waits, then sees the first one's committed decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from lumen_bridge.payload import Alert
from lumen_bridge.store.models import CURRENT, Incident

Key = tuple[str, str]
"""(receiver, identity)"""

_CHUNK = 500


def incident_row(receiver: str, alert: Alert, now: datetime, external_url: str) -> dict[str, Any]:
    """Column values of a new incident for ``alert`` (the dedup stage then decides its state)."""
    return {
        "receiver": receiver,
        "identity": alert.identity,
        "is_current": True,
        "status": alert.status,
        "alertname": alert.alertname,
        "severity": alert.labels.get("severity"),
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "first_seen": now,
        "last_seen": now,
        "resolved_at": None,
        "occurrences": 0,
        "last_notified_at": None,
        "notified": False,
        "held": False,
        "notify_seq": 0,
        "generator_url": alert.generator_url,
        "alertmanager_url": external_url,
        "group_key": "",
    }


async def claim(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[int]:
    """Insert the rows whose key has no current incident; return the ids inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Incident)
        .on_conflict_do_nothing(index_elements=["receiver", "identity"], index_where=CURRENT)
        .returning(Incident.id)
    )
    ordered = sorted(rows, key=lambda r: (r["receiver"], r["identity"]))
    result = await session.execute(statement, ordered)
    return set(result.scalars().all())


async def lock(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, Incident]:
    """Load the current incident of every key, locked until the transaction ends."""
    by_receiver: dict[str, list[str]] = {}
    for receiver, identity in sorted(set(keys)):
        by_receiver.setdefault(receiver, []).append(identity)
    found: dict[Key, Incident] = {}
    for receiver, identities in by_receiver.items():
        for start in range(0, len(identities), _CHUNK):
            statement = (
                select(Incident)
                .where(
                    CURRENT,
                    Incident.receiver == receiver,
                    Incident.identity.in_(identities[start : start + _CHUNK]),
                )
                .order_by(Incident.id)
                .with_for_update()
            )
            for incident in (await session.scalars(statement)).all():
                found[(incident.receiver, incident.identity)] = incident
    return found
