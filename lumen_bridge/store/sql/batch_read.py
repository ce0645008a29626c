"""What a webhook batch decides on, read at its start in one statement: its keys' current
incidents, locked, and the matchers of the silences in force.

One statement, whatever the number of keys or receivers (the keys go in as arrays on
PostgreSQL, as one JSON array on SQLite), so its SQL text never changes: no expanding
``IN`` rendered again per batch (a third of the lock's time in SQLAlchemy), no chunks,
one prepared statement. On PostgreSQL every statement is also a round trip (0.2-0.3 ms
here with the driver's and SQLAlchemy's work): this one replaced three.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    Connection,
    String,
    TextualSelect,
    bindparam,
    column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from lumen_bridge.domain.schedule import open_matchers
from lumen_bridge.store import incidents
from lumen_bridge.store.incidents import IncidentRecord, Key
from lumen_bridge.store.models import Silence

__all__ = ["BatchReads", "read"]


@dataclass(frozen=True, slots=True)
class BatchReads:
    """A batch's current incidents (locked until its transaction ends) and silences."""

    current: dict[Key, IncidentRecord]
    silences: list[list[dict[str, Any]]]
    """The matchers of each silence holding at the batch's time: active and, for a recurring
    one, inside one of its windows (as :func:`lumen_bridge.store.silences.active_matchers`)."""


def _typed(sql: str, *keys: BindParameter[Any]) -> TextualSelect:
    """``sql`` with ``:now`` as a timestamp and the incident columns' types on its result."""
    return (
        text(sql)
        .bindparams(bindparam("now", type_=Silence.__table__.c.starts_at.type), *keys)
        .columns(column("matchers", JSON), column("scheduled", JSON), *incidents.COLUMNS)
    )


_COLUMNS = ", ".join(f"i.{name}" for name in incidents.FIELDS)
_ID = incidents.FIELDS.index("id")
# The aggregate makes exactly one row, so the silences come back even when no incident
# matches (the incidents' columns are then NULL).
#
# PostgreSQL: the bridge's connections plan every statement for its parameters
# (``plan_cache_mode = force_custom_plan``, see lumen_bridge.store.postgres): a generic plan
# for "these keys", made while the table was small, scanned it whole once it had grown. Only this
# lock needs that. The same setting makes PostgreSQL plan each row's foreign-key checks
# again, which doubled the time of a batch's inserts, so this statement, planned before it
# runs, sets ``auto`` for the rest of its transaction (``set_config(..., true)``: local).
# The incidents are locked in id order, as another replica's batch would lock them.
_POSTGRES = _typed(
    f"""
SELECT s.matchers, s.scheduled, {_COLUMNS}
FROM (
    SELECT json_agg(silences.matchers)
               FILTER (WHERE json_typeof(silences.schedule) IS DISTINCT FROM 'object')
               AS matchers,
           json_agg(json_build_array(silences.matchers, silences.schedule))
               FILTER (WHERE json_typeof(silences.schedule) = 'object') AS scheduled,
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
""",  # noqa: S608 - the column names are IncidentRecord's fields
    bindparam("receivers", type_=ARRAY(String)),
    bindparam("identities", type_=ARRAY(String)),
)
# SQLite: every write transaction is BEGIN IMMEDIATE, so exclusive already; no lock clause.
_SQLITE = _typed(
    f"""
SELECT s.matchers, s.scheduled, {_COLUMNS}
FROM (
    SELECT json_group_array(json(silences.matchers))
               FILTER (WHERE coalesce(json_type(silences.schedule), '') != 'object')
               AS matchers,
           json_group_array(json_array(json(silences.matchers), json(silences.schedule)))
               FILTER (WHERE json_type(silences.schedule) = 'object') AS scheduled
    FROM silences
    WHERE silences.starts_at <= :now AND silences.ends_at > :now
) AS s
LEFT JOIN (
    SELECT incidents.* FROM incidents
    WHERE incidents.is_current
      AND (incidents.receiver, incidents.identity) IN (
          SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:keys)
      )
) AS i ON true
""",  # noqa: S608 - the column names are IncidentRecord's fields
    bindparam("keys", type_=JSON),
)


def read(connection: Connection, keys: Iterable[Key], now: datetime) -> BatchReads:
    """Lock the current incident of every ``(receiver, identity)`` key and read the silences
    active at ``now``."""
    unique = list(dict.fromkeys(keys))  # the lock order is the SQL's (by id)
    if connection.dialect.name == "postgresql":
        statement, params = (
            _POSTGRES,
            {
                "now": now,
                "receivers": [receiver for receiver, _ in unique],
                "identities": [identity for _, identity in unique],
            },
        )
    else:
        statement, params = _SQLITE, {"now": now, "keys": unique}
    rows = connection.execute(statement, params).all()
    current = {}
    for _, _, *fields in rows:
        if fields[_ID] is not None:  # None when no incident matched
            record = IncidentRecord(*fields)
            current[(record.receiver, record.identity)] = record
    plain, scheduled = rows[0].matchers or [], rows[0].scheduled
    return BatchReads(current, plain + open_matchers(scheduled, now) if scheduled else plain)
