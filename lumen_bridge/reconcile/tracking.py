"""What reconcile reads and writes of the incidents, as plain functions of a ``Connection``.

The firing incidents are read locked (PostgreSQL: ``FOR UPDATE``, in id order as every
other writer locks incidents; SQLite's write transactions are exclusive already), so two
replicas polling at once take turns and the second sees what the first resolved.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Connection, bindparam, func, select, update

from lumen_bridge.reconcile.decision import Change, Tracked
from lumen_bridge.store.incidents import COLUMNS, IncidentRecord
from lumen_bridge.store.models import CURRENT, Base, Incident, IncidentStatus

__all__ = ["firing", "record", "resolved_count"]

_TABLE = Base.metadata.tables[Incident.__tablename__]
_EXTRA = [_TABLE.c.am_state, _TABLE.c.am_absent_since]


def firing(connection: Connection) -> list[tuple[Tracked, IncidentRecord]]:
    """Every current, firing incident, locked, in id order."""
    statement = (
        select(*COLUMNS, *_EXTRA)
        .where(CURRENT, _TABLE.c.status == IncidentStatus.FIRING)
        .order_by(_TABLE.c.id)
        .with_for_update()
    )
    found = []
    for row in connection.execute(statement):
        incident = IncidentRecord(*row[: len(COLUMNS)])
        am_state, am_absent_since = row[len(COLUMNS) :]
        assert incident.id is not None
        tracked = Tracked(
            incident.id, incident.identity, am_state, am_absent_since, incident.last_seen
        )
        found.append((tracked, incident))
    return found


_RECORD = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(am_state=bindparam("b_state"), am_absent_since=bindparam("b_since"))
)


def record(connection: Connection, changes: Sequence[Change]) -> None:
    """Write the reconcile columns that ``changes`` set."""
    if changes:
        connection.execute(
            _RECORD,
            [{"b_id": c.id, "b_state": c.am_state, "b_since": c.am_absent_since} for c in changes],
        )


def resolved_count(connection: Connection, ids: Collection[int]) -> int:
    """How many of the incidents ``ids`` are resolved."""
    statement = select(func.count()).where(
        _TABLE.c.id.in_(ids), _TABLE.c.status == IncidentStatus.RESOLVED
    )
    return int(connection.scalar(statement) or 0)
