"""What a webhook batch appends once its incidents are saved: one event per alert, and the
outbox rows (with their items) of the notifications it queued.

On SQLite these are three inserts into an in-process database. On PostgreSQL every
statement is a round trip (0.2-0.3 ms here with the driver's and SQLAlchemy's work), so
they are one statement of data-modifying CTEs, each table's rows passed as one array per
column (``unnest``): the items find their outbox row by its unique idempotency key. A
batch that queued nothing (repeats) inserts its events alone, without the empty CTEs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect

from lumen_bridge.store.models import AlertEvent, Base, Notification, NotificationItem
from lumen_bridge.store.sql.bulk import BulkInsert, unnest

__all__ = ["NewNotification", "append"]


@dataclass(frozen=True, slots=True)
class NewNotification:
    """An outbox row to insert, with its items (``outbox_id`` is filled in by :func:`append`)."""

    row: dict[str, Any]
    items: list[dict[str, Any]]


_ITEMS = Base.metadata.tables[NotificationItem.__tablename__]
_OUTBOX = Base.metadata.tables[Notification.__tablename__]
_INSERT_EVENTS = BulkInsert(
    Base.metadata.tables[AlertEvent.__tablename__],
    [
        "incident_id",
        "received_at",
        "receiver",
        "fingerprint",
        "status",
        "starts_at",
        "ends_at",
        "outcome",
        "reason",
    ],
)
_INSERT_OUTBOX = BulkInsert(
    _OUTBOX,
    [
        "receiver",
        "kind",
        "action",
        "idempotency_key",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "lease_until",
        "delivered_at",
        "last_error",
    ],
    returning=["id", "idempotency_key"],
)
_INSERT_ITEMS = BulkInsert(_ITEMS, ["outbox_id", "incident_id", "seq", "action", "snapshot"])
_ITEM_COLUMNS = _INSERT_ITEMS.columns[1:]  # without outbox_id: PostgreSQL finds it by key
_SQL: WeakKeyDictionary[Dialect, str] = WeakKeyDictionary()


def append(
    connection: Connection,
    events: Sequence[dict[str, Any]],
    notifications: Sequence[NewNotification],
) -> None:
    """Insert ``events`` (``alert_events`` rows), and ``notifications`` with their items."""
    if connection.dialect.name != "postgresql" or not notifications:  # repeats queue none
        _INSERT_EVENTS(connection, events)
        _add_notifications(connection, notifications)
        return
    dialect = connection.dialect
    items = [item | {"outbox_id": None} for n in notifications for item in n.items]
    arrays = [
        *_INSERT_EVENTS.arrays(dialect, events),
        *_INSERT_OUTBOX.arrays(dialect, [n.row for n in notifications]),
        [n.row["idempotency_key"] for n in notifications for _ in n.items],
        *_INSERT_ITEMS.arrays(dialect, items)[1:],  # [0]: the outbox ids, not known yet
    ]
    connection.exec_driver_sql(_postgres_sql(dialect), tuple(arrays))


def _add_notifications(connection: Connection, notifications: Sequence[NewNotification]) -> None:
    """Insert ``notifications`` and their items: two statements for any number of them."""
    if not notifications:
        return
    ids = {  # by the unique idempotency key: one multi-row INSERT, in no promised order
        key: outbox_id
        for outbox_id, key in _INSERT_OUTBOX(connection, [n.row for n in notifications])
    }
    items = [
        item | {"outbox_id": ids[notification.row["idempotency_key"]]}
        for notification in notifications
        for item in notification.items
    ]
    _INSERT_ITEMS(connection, items)


def _postgres_sql(dialect: Dialect) -> str:
    if dialect not in _SQL:
        outbox_first = 1 + len(_INSERT_EVENTS.columns)
        items_first = outbox_first + len(_INSERT_OUTBOX.columns)
        keyed_items = [_OUTBOX.c.idempotency_key, *(_ITEMS.c[name] for name in _ITEM_COLUMNS)]
        _SQL[dialect] = f"""
WITH events AS (
    {_INSERT_EVENTS.unnest(dialect, 1)}
), outbox_rows AS (
    {_INSERT_OUTBOX.unnest(dialect, outbox_first)}
    RETURNING outbox.id, outbox.idempotency_key
)
INSERT INTO outbox_items (outbox_id, {", ".join(_ITEM_COLUMNS)})
SELECT outbox_rows.id, {", ".join(f"items.{name}" for name in _ITEM_COLUMNS)}
FROM {unnest(keyed_items, dialect, items_first)}
    AS items (idempotency_key, {", ".join(_ITEM_COLUMNS)})
JOIN outbox_rows USING (idempotency_key)
"""  # noqa: S608 - table and column names from the models
    return _SQL[dialect]
