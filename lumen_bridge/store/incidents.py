"""Incident repository: find, lock or create the current incident of each alert identity.

Concurrency comes from the database. :func:`current` selects the existing current
incidents ``FOR UPDATE`` (PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE`` and
so already exclusive), then inserts the missing ones ``ON CONFLICT DO NOTHING`` against
the partial unique index, in key order. Whoever comes second waits, then sees the first
one's committed incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
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


def current(
    session: Session, rows: Sequence[dict[str, Any]]
) -> tuple[dict[Key, Incident], set[Key]]:
    """The current incident of every row's key, locked; and the keys whose incident is new.

    Existing incidents are locked first; a row is inserted only for the keys that had
    none (its first row per key). A key that a concurrent transaction inserted meanwhile
    (PostgreSQL) is then locked like the others, after that transaction committed.
    """
    first_rows: dict[Key, dict[str, Any]] = {}
    for row in rows:
        first_rows.setdefault((row["receiver"], row["identity"]), row)
    found = lock(session, first_rows)
    missing = [row for key, row in first_rows.items() if key not in found]
    inserted = _insert_new(session, missing)
    fresh = {(incident.receiver, incident.identity) for incident in inserted}
    found.update({(incident.receiver, incident.identity): incident for incident in inserted})
    lost_race = [key for key in first_rows if key not in found]
    if lost_race:
        found.update(lock(session, lost_race))
    return found, fresh


def _insert_new(session: Session, rows: Sequence[dict[str, Any]]) -> list[Incident]:
    """Insert the rows whose key has no current incident; return the incidents inserted."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Incident)
        .on_conflict_do_nothing(index_elements=["receiver", "identity"], index_where=CURRENT)
        .returning(Incident)
    )
    ordered = sorted(rows, key=lambda r: (r["receiver"], r["identity"]))
    return list(session.scalars(statement, ordered).all())


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
