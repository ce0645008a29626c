"""Incident repository: the current incident of each alert identity, locked.

Concurrency comes from the database. :func:`lock` selects the current incidents
``FOR UPDATE`` in id order (PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE`` and
so already exclusive). A key with no current incident gets a new row; the partial
unique index on current incidents makes a concurrent second insert of the same key
wait and fail, and its transaction is retried (see :mod:`lumen_bridge.store.db`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def lock(session: Session, keys: Iterable[Key]) -> dict[Key, Incident]:
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
            for incident in session.scalars(statement).all():
                found[(incident.receiver, incident.identity)] = incident
    return found
