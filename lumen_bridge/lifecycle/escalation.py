"""Escalation (docs/lifecycle.md): a page nobody acknowledged in time pages the next level.

A route's ``escalation`` lists steps ``(after, receiver)``. An incident that is firing, was
told of (``notified``), is not acknowledged and is not held back by a silence or the flag
pages step ``n`` (its ``escalation_level``) once ``after`` has passed since the previous
level was paged: the episode's first page (its latest ``open``/``reopen``) for the first
step, ``escalated_at`` for the next ones. The page is an outbox row to the step's receiver
(item action ``escalate``, snapshot ``escalation_level``), in the incident's timeline.

Exactly once across replicas: the level is raised by a guarded ``UPDATE`` (the level and
the notification sequence read must still be the incident's, and it must still be firing
and unacknowledged) in the transaction that writes the outbox row; whoever comes second
changes no row and queues nothing. A resolve, an ack or a new episode (the level goes
back to 0, :func:`lumen_bridge.store.incidents.save`) stops what was due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection

from lumen_bridge.clock import Clock
from lumen_bridge.config import EscalationStep, Settings
from lumen_bridge.domain.dedup import Action
from lumen_bridge.pipeline.batch import Queued
from lumen_bridge.pipeline.enqueue import build_notifications
from lumen_bridge.pipeline.pipeline import Pipeline
from lumen_bridge.pipeline.suppress import suppression_at
from lumen_bridge.store import escalations
from lumen_bridge.store.incidents import IncidentRecord
from lumen_bridge.store.sql.append import append

__all__ = ["CHECK_EVERY", "Escalated", "Escalator"]

log = structlog.get_logger("lumen_bridge.escalation")

CHECK_EVERY = timedelta(seconds=30)
"""How often the loop looks for pages nobody acknowledged."""
RETRY_AFTER_ERROR = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Escalated:
    """One escalation step paged: ``incident_id`` to ``receiver``, now at ``level``."""

    incident_id: int
    receiver: str
    level: int


@dataclass(frozen=True, slots=True)
class _Due:
    incident: IncidentRecord
    level: int
    step: EscalationStep


class Escalator:
    """Pages the next escalation step of what nobody acknowledged in time."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        clock: Clock,
        *,
        on_queued: Callable[[], None] | None = None,
        on_escalated: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.clock = clock
        self.on_queued = on_queued
        self.on_escalated = on_escalated
        self._receivers = sorted({r.receiver for r in settings.routes if r.escalation})
        self._most_steps = max((len(r.escalation) for r in settings.routes), default=0)

    async def escalate_due(self, now: datetime) -> list[Escalated]:
        """Page every escalation step due at ``now``; return what was paged."""
        if not self._receivers:
            return []
        due = await self.pipeline.runner.read(lambda connection: self._due(connection, now))
        if not due:
            return []
        done = await self.pipeline.runner.write(
            lambda connection: self._escalate(connection, due, now)
        )
        for step in done:
            log.info(
                "page escalated",
                incident_id=step.incident_id,
                receiver=step.receiver,
                level=step.level,
            )
            if self.on_escalated is not None:
                self.on_escalated(step.receiver)
        if done and self.on_queued is not None:
            self.on_queued()
        return done

    def _due(self, connection: Connection, now: datetime) -> list[_Due]:
        """The incidents whose next step is due at ``now``."""
        rows = escalations.waiting(connection, self._receivers, self._most_steps)
        suppression = suppression_at(connection, now, self.pipeline.flag)
        waiting: list[tuple[IncidentRecord, int, datetime | None, EscalationStep]] = []
        for incident, level, escalated_at in rows:
            steps = self._steps(incident)
            if level < len(steps) and suppression.reason(incident.labels) is None:
                waiting.append((incident, level, escalated_at, steps[level]))
        first_pages = escalations.first_pages(
            connection, [i.id for i, level, _, _ in waiting if level == 0]
        )
        due = []
        for incident, level, escalated_at, step in waiting:
            since = first_pages.get(incident.id) if level == 0 else escalated_at
            if since is not None and now >= since + step.after:
                due.append(_Due(incident, level, step))
        return due

    def _steps(self, incident: IncidentRecord) -> tuple[EscalationStep, ...]:
        """The escalation of the route that takes ``incident`` to its receiver today."""
        route = self.pipeline.router.route_to(incident.labels, incident.receiver)
        return () if route is None else route.escalation

    def _escalate(self, connection: Connection, due: list[_Due], now: datetime) -> list[Escalated]:
        """Raise each due incident's level if nobody did meanwhile, and queue its pages."""
        queued: list[Queued] = []
        levels: dict[int | None, int] = {}
        for d in due:
            if escalations.raise_level(connection, d.incident, d.level, now):
                receiver = self.settings.receiver(d.step.receiver)
                queued.append(
                    Queued(
                        receiver.type,
                        receiver.name,
                        d.incident,
                        Action.ESCALATE,
                        d.incident.notify_seq,
                    )
                )
                levels[d.incident.id] = d.level + 1
        notifications = build_notifications(queued, now)
        for notification in notifications:
            for item in notification.items:
                level = levels[item["incident_id"]]
                item["snapshot"] = {**item["snapshot"], "escalation_level": level}
        append(connection, [], notifications)
        return [Escalated(q.incident.id or 0, q.receiver, levels[q.incident.id]) for q in queued]

    async def run(self) -> None:
        """The loop: a pass every :data:`CHECK_EVERY`; a database error is logged and tried
        again soon."""
        while True:
            try:
                await self.escalate_due(self.clock())
                wait = CHECK_EVERY
            except Exception:  # the database may be away for a while; keep watching
                log.warning("escalation pass failed; retrying", exc_info=True)
                wait = RETRY_AFTER_ERROR
            await asyncio.sleep(wait.total_seconds())
