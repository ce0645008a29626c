"""What a webhook batch decides on, read at its start: its keys' current incidents, locked,
and the matchers of the silences in force.

On SQLite these are two statements (:func:`incidents.lock`, :func:`silences.active_matchers`)
on an in-process database. On PostgreSQL every statement is a round trip (about 0.2-0.3 ms
here, the driver's and SQLAlchemy's work included), so they are one, which also ends the
custom planning that only the lock needs (see :data:`_POSTGRES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, String, bindparam, column, text
from sqlalchemy.dialects.postgresql import ARRAY

from lumen_bridge.store import incidents, silences
from lumen_bridge.store.incidents import IncidentRecord, Key
from lumen_bridge.store.models import Silence

__all__ = ["BatchReads", "read"]


@dataclass(frozen=True, slots=True)
class BatchReads:
    """A batch's current incidents (locked until its transaction ends) and silences."""

    current: dict[Key, IncidentRecord]
    silences: list[list[dict[str, Any]]]
    """The matchers of each silence active at the batch's time."""


# The bridge's PostgreSQL connections plan every statement for its parameters
# (``plan_cache_mode = force_custom_plan``, see store.db.create_engine): a generic plan for
# "these keys", made while the table was small, scanned it whole once it had grown. Only this
# lock needs that. The same setting makes PostgreSQL plan each row's foreign-key checks
# again, which doubled the time of a batch's inserts, so this statement, planned before it
# runs, sets ``auto`` for the rest of its transaction (``set_config(..., true)``: local).
# The aggregate makes exactly one row, so the silences and the setting come back even when
# no incident matches; the incidents are locked in id order.
_COLUMNS = ", ".join(f"i.{name}" for name in incidents.FIELDS)
_POSTGRES = (
    text(
        f"""
SELECT s.matchers, {_COLUMNS}
FROM (
    SELECT json_agg(silences.matchers) AS matchers,
           set_config('plan_cache_mode', 'auto', true) AS plans
    FROM silences
    WHERE silences.starts_at <= :now AND silences.ends_at > :now
) AS s
LEFT JOIN LATERAL (
    SELECT incidents.* FROM incidents
    WHERE incidents.is_current
      AND (incidents.receiver, incidents.identity) IN (
          SELECT * FROM unnest(:receivers, :identities)
      )
    ORDER BY incidents.id
    FOR UPDATE
) AS i ON true
"""  # noqa: S608 - the column names are IncidentRecord's fields
    )
    .bindparams(
        bindparam("now", type_=Silence.__table__.c.starts_at.type),
        bindparam("receivers", type_=ARRAY(String)),
        bindparam("identities", type_=ARRAY(String)),
    )
    .columns(column("matchers", JSON), *incidents.COLUMNS)
)


def read(connection: Connection, keys: Iterable[Key], now: datetime) -> BatchReads:
    """Lock the current incident of every ``(receiver, identity)`` key and read the silences
    active at ``now``."""
    if connection.dialect.name != "postgresql":
        return BatchReads(
            incidents.lock(connection, keys), silences.active_matchers(connection, now)
        )
    unique = sorted(set(keys))
    rows = connection.execute(
        _POSTGRES,
        {
            "now": now,
            "receivers": [receiver for receiver, _ in unique],
            "identities": [identity for _, identity in unique],
        },
    ).all()
    current = {}
    for _, *fields in rows:
        if fields[-1] is not None:  # the id: None when no incident matched
            record = IncidentRecord(*fields)
            current[(record.receiver, record.identity)] = record
    return BatchReads(current, rows[0].matchers or [])
