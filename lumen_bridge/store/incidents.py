"""Incident repository: the current incident of each alert identity, locked, as plain records.

Concurrency comes from the database. A webhook batch first reads its keys' current
incidents (:mod:`lumen_bridge.store.sql.batch_read`), on PostgreSQL ``FOR UPDATE`` in id order;
SQLite transactions are ``BEGIN IMMEDIATE`` and so already exclusive. A key with no
current incident gets a new row; the partial unique index on current incidents makes a
concurrent second insert of the same key wait and fail, and its transaction is retried
(see :mod:`lumen_bridge.store.runner`).

The webhook path is the hot path of an alert storm, so it works on SQLAlchemy Core
and :class:`IncidentRecord` (a slotted dataclass), not on ORM objects: one ``SELECT``
for the batch's keys (in :mod:`lumen_bridge.store.sql.batch_read`), one ``executemany`` ``UPDATE``
and one multi-row ``INSERT ... RETURNING`` to write them back (:func:`save`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from lumen_bridge.domain.alertmanager import Alert
from lumen_bridge.store.models import CURRENT, Base, Incident, IncidentStatus
from lumen_bridge.store.sql.bulk import BulkInsert, BulkUpdate

Key = tuple[str, str]
"""(receiver, identity)"""

_TABLE = Base.metadata.tables[Incident.__tablename__]


@dataclass(slots=True, eq=False)
class IncidentRecord:
    """One row of ``incidents``, decided on in memory and written back by :func:`save`."""

    receiver: str
    identity: str
    is_current: bool
    status: str
    alertname: str
    severity: str | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    starts_at: datetime
    ends_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    occurrences: int
    last_notified_at: datetime | None
    notified: bool
    held: bool
    notify_seq: int
    generator_url: str
    alertmanager_url: str
    group_key: str
    id: int | None = None
    """None until :func:`save` inserts the row."""
    acked_at: datetime | None = None
    """Read, never written back: only an ack sets it (docs/lifecycle.md)."""
    details_changed: bool = False
    """The labels or annotations changed: :func:`save` writes them too."""
    new_episode: bool = False
    """A resolved incident fires again: :func:`save` clears its ack and escalation."""


_FLAGS = ("details_changed", "new_episode")
FIELDS = [f.name for f in dataclasses.fields(IncidentRecord) if f.name not in _FLAGS]
"""The columns of an :class:`IncidentRecord`, in its fields' order."""
COLUMNS = [_TABLE.c[name] for name in FIELDS]
_DETAILS = ("labels", "annotations")
_READ_ONLY = ("id", "receiver", "identity", "acked_at")
_STATE = [name for name in FIELDS if name not in (*_DETAILS, *_READ_ONLY)]
_UPDATE_STATE = BulkUpdate(_TABLE, _STATE)
_UPDATE_DETAILS = BulkUpdate(_TABLE, _DETAILS)
_EPISODE = {"acked_at": None, "acked_by": None, "escalation_level": 0, "escalated_at": None}
_RESET_EPISODE = BulkUpdate(_TABLE, list(_EPISODE))
# Multi-row INSERTs whose RETURNING rows are matched by key, not by order: SQLite does not
# promise an order. A new row is neither acknowledged nor escalated (the columns' defaults).
_INSERT = BulkInsert(
    _TABLE,
    [name for name in FIELDS if name not in ("id", "acked_at")],
    returning=["id", "receiver", "identity"],
)


def new_record(receiver: str, alert: Alert, now: datetime, external_url: str) -> IncidentRecord:
    """A new incident for ``alert``, not yet inserted (the dedup stage then decides its state)."""
    return IncidentRecord(
        receiver=receiver,
        identity=alert.identity,
        is_current=True,
        status=alert.status,
        alertname=alert.alertname,
        severity=alert.labels.get("severity"),
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        first_seen=now,
        last_seen=now,
        resolved_at=None,
        occurrences=0,
        last_notified_at=None,
        notified=False,
        held=False,
        notify_seq=0,
        generator_url=alert.generator_url,
        alertmanager_url=external_url,
        group_key="",
    )


def held(connection: Connection) -> list[IncidentRecord]:
    """Every current, firing incident whose notification is held back, locked."""
    statement = (
        select(*COLUMNS)
        .where(CURRENT, _TABLE.c.held, _TABLE.c.status == IncidentStatus.FIRING)
        .order_by(_TABLE.c.receiver, _TABLE.c.identity)
        .with_for_update()
    )
    return [IncidentRecord(*row) for row in connection.execute(statement)]


def held_labels(connection: Connection) -> list[dict[str, Any]]:
    """The labels of every held incident (to see, without locking, whether any may go)."""
    statement = select(_TABLE.c.labels).where(
        CURRENT, _TABLE.c.held, _TABLE.c.status == IncidentStatus.FIRING
    )
    return list(connection.scalars(statement))


def save(connection: Connection, records: Collection[IncidentRecord]) -> None:
    """Write ``records`` back: changed rows first, then new rows, which get their ids.

    The order matters: a retired incident must leave the partial unique index before
    its successor on the same key enters it.
    """
    existing = [r for r in records if r.id is not None]
    _UPDATE_STATE(connection, [{n: getattr(r, n) for n in (*_STATE, "id")} for r in existing])
    _UPDATE_DETAILS(
        connection,
        [
            {"id": r.id, "labels": r.labels, "annotations": r.annotations}
            for r in existing
            if r.details_changed
        ],
    )
    _RESET_EPISODE(connection, [{**_EPISODE, "id": r.id} for r in existing if r.new_episode])
    new = [r for r in records if r.id is None]
    # A key has at most one current row, so the current new rows go in one statement. A
    # new row already retired (an incident opened and replaced within one batch) goes
    # alone, first: the older incident keeps the smaller id.
    for batch in (*([r] for r in new if not r.is_current), [r for r in new if r.is_current]):
        if not batch:
            continue
        by_key = {(r.receiver, r.identity): r for r in batch}
        rows = [{n: getattr(r, n) for n in _INSERT.columns} for r in batch]
        for new_id, receiver, identity in _INSERT(connection, rows):
            by_key[(receiver, identity)].id = new_id
