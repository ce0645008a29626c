"""Acknowledgements on ``incidents``: an incident read locked for its ack, and the ack
written (docs/lifecycle.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from lumen_bridge.store.incidents import COLUMNS, IncidentRecord
from lumen_bridge.store.models import Incident

__all__ = ["locked", "mark"]


def locked(connection: Connection, incident_id: int) -> tuple[IncidentRecord, str | None] | None:
    """Incident ``incident_id`` (locked until the transaction ends) and who acked it; None
    when there is no such incident."""
    row = connection.execute(
        select(*COLUMNS, Incident.acked_by).where(Incident.id == incident_id).with_for_update()
    ).one_or_none()
    if row is None:
        return None
    return IncidentRecord(*row[: len(COLUMNS)]), row[-1]


def mark(connection: Connection, incident_id: int, actor: str, now: datetime) -> None:
    """``actor`` acknowledged incident ``incident_id`` at ``now``."""
    connection.execute(
        update(Incident).where(Incident.id == incident_id).values(acked_at=now, acked_by=actor)
    )
