"""When silences end: the next moment the replayer must look, and the "until resolved"
silences whose incidents have all resolved (docs/silences.md).

An "until resolved" silence counts the incidents its matchers match that fired while it
was in force: those firing now, and those resolved since it started. It ends once it has
counted one and every one has been resolved for its grace period. Ending it moves
``ends_at`` to now with ``UPDATE ... WHERE ends_at > now``, so of two replicas only one
ends it; the replay that follows in the same pass notifies what it held back.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, or_, select, update

from lumen_bridge.domain.matchers import matches_all
from lumen_bridge.domain.schedule import Schedule, occurrence
from lumen_bridge.domain.silences import resolved_end
from lumen_bridge.domain.suppression import usable_matchers
from lumen_bridge.store.models import CURRENT, Incident, IncidentStatus, Silence
from lumen_bridge.store.silences import SilenceRecord

__all__ = ["end_resolved", "next_end"]


def next_end(connection: Connection, now: datetime) -> datetime | None:
    """When the next silence, or window of a recurring one, ends after ``now`` (None when
    nothing is in force or pending)."""
    ends: list[datetime] = []
    end: datetime | None = connection.scalar(
        select(func.min(Silence.ends_at)).where(Silence.ends_at > now)
    )
    if end is not None:
        ends.append(end)
    scheduled = connection.execute(
        select(Silence.schedule, Silence.starts_at, Silence.ends_at).where(
            Silence.ends_at > now, Silence.schedule.is_not(None)
        )
    )
    for data, starts_at, ends_at in scheduled:
        if data is not None:
            window = occurrence(Schedule.from_json(data), starts_at, ends_at, now)
            if window is not None:
                ends.append(window[1])
    return min(ends, default=None)


def end_resolved(connection: Connection, now: datetime) -> list[SilenceRecord]:
    """End, at ``now``, every active "until resolved" silence whose incidents have all been
    resolved for its grace period; return them as they are now."""
    found = [
        SilenceRecord(**row._mapping)
        for row in connection.execute(
            select(Silence).where(
                Silence.starts_at <= now,
                Silence.ends_at > now,
                Silence.resolve_grace_s.is_not(None),
            )
        )
    ]
    if not found:
        return []
    since = min(silence.starts_at for silence in found)
    rows = connection.execute(
        select(Incident.labels, Incident.status, Incident.resolved_at).where(
            CURRENT,
            or_(Incident.status == IncidentStatus.FIRING, Incident.resolved_at >= since),
        )
    ).all()
    ended = []
    for silence in found:
        matchers = usable_matchers(silence.matchers)
        counted = [
            None if row.status == IncidentStatus.FIRING else row.resolved_at
            for row in rows
            if matchers
            and matches_all(matchers, row.labels)
            and (row.status == IncidentStatus.FIRING or row.resolved_at >= silence.starts_at)
        ]
        grace = timedelta(seconds=silence.resolve_grace_s or 0)
        if not resolved_end(counted, grace, now):
            continue
        result = connection.execute(
            update(Silence)
            .where(Silence.id == silence.id, Silence.ends_at > now)
            .values(ends_at=now, updated_at=now)
        )
        if result.rowcount:
            ended.append(dataclasses.replace(silence, ends_at=now, updated_at=now))
    return ended
