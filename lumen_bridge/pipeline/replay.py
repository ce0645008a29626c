"""Replay: when a silence ends, tell the receivers of what it held back, once.

Not a stage of a webhook's batch but the suppress stage's other half, with its own
transaction.

An incident held back (``held``: a notification was decided but suppressed) that is
still firing is re-decided when a silence ends, with the dedup stage's own table on
the incident's last alert: a first notification of the episode (``open``, or
``reopen`` when its receiver had been told of an earlier one) or, when a reminder
was held back, an ``update``. Incidents that another active silence or the flag
still holds stay held.

Exactly once: the ended silences are claimed (``replayed_at``) and the incidents
locked and re-checked (``held``) in the transaction that writes the outbox rows;
whoever comes second — another replica, or the webhook of a repeat — finds nothing
left to do. Each pass releases every held incident that nothing holds any more, not
only those of the silence that just ended: so a silence that ended while the bridge
was down is handled at start, a hold committed just after a silence's replay (a
webhook in flight at the end) is released at the next pass, and so is what the flag
held when it is lowered in the configuration.

Each pass first ends the "until resolved" silences whose incidents have all resolved
(:func:`lumen_bridge.store.silence_ends.end_resolved`), so their replay runs in the same
pass. A recurring silence holds only inside its windows: the watcher also wakes when a
window closes, and the pass releases what it held like any other.

:class:`Replayer` does one pass (:meth:`Replayer.replay_expired`, which tests call
with their clock) and runs the watcher task that wakes at the next silence end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection

from lumen_bridge.clock import Clock, seconds_until
from lumen_bridge.domain.alertmanager import Alert
from lumen_bridge.domain.dedup import Action, decide
from lumen_bridge.pipeline.batch import Queued, Route
from lumen_bridge.pipeline.enqueue import build_notifications, notify
from lumen_bridge.pipeline.pipeline import Pipeline
from lumen_bridge.pipeline.suppress import suppression_at
from lumen_bridge.store import incidents, silence_ends, silences
from lumen_bridge.store.incidents import IncidentRecord
from lumen_bridge.store.sql.append import append

__all__ = ["Replayer"]

log = structlog.get_logger("lumen_bridge.replay")

SAFETY_INTERVAL = timedelta(minutes=1)
"""The watcher looks at least this often, even when no silence is about to end."""
RETRY_AFTER_ERROR = timedelta(seconds=5)


def _last_alert(incident: IncidentRecord) -> Alert:
    """The incident's alert as last received (what the dedup table decides on)."""
    return Alert.model_validate(
        {
            "status": "firing",
            "labels": incident.labels,
            "annotations": incident.annotations,
            "startsAt": incident.starts_at,
            "endsAt": incident.ends_at,
            "generatorURL": incident.generator_url,
            "fingerprint": incident.identity,
        }
    )


class Replayer:
    """Notifies, once, what ended silences held back."""

    def __init__(
        self, pipeline: Pipeline, clock: Clock, on_queued: Callable[[], None] | None = None
    ) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.on_queued = on_queued
        self._wake = asyncio.Event()

    async def replay_expired(self, now: datetime) -> int:
        """Handle every silence ended by ``now`` and release every held incident that nothing
        holds any more; return how many notifications were queued."""
        queued = await self.pipeline.runner.write(lambda connection: self._replay(connection, now))
        if queued and self.on_queued is not None:
            self.on_queued()
        return queued

    def _replay(self, connection: Connection, now: datetime) -> int:
        for silence in silence_ends.end_resolved(connection, now):
            log.info(
                "silence ended: its incidents resolved",
                silence_id=silence.id,
                grace_s=silence.resolve_grace_s,
            )
        claimed = silences.claim_ended(connection, now)
        released, queued = self._release_held(connection, now)
        incidents.save(connection, released)
        append(connection, [], build_notifications(queued, now))
        if claimed or queued:
            log.info(
                "silences ended",
                silences=claimed,
                incidents_notified=[q.incident.id for q in queued],
            )
        return len(queued)

    def _release_held(
        self, connection: Connection, now: datetime
    ) -> tuple[list[IncidentRecord], list[Queued]]:
        """Release each held incident that nothing holds at ``now``, locked and re-checked;
        return the released incidents and the notifications queued for them."""
        suppression = suppression_at(connection, now, self.pipeline.flag)
        held_labels = incidents.held_labels(connection)
        if all(suppression.reason(labels) is not None for labels in held_labels):
            return [], []  # nothing to release: lock nothing
        released: list[IncidentRecord] = []
        queued: list[Queued] = []
        for incident in incidents.held(connection):
            if suppression.reason(incident.labels) is not None:
                continue
            released.append(incident)
            decided = self._decide(incident, now)
            if decided is None:
                incident.held = False  # nothing left to tell, or nobody to tell it to
            else:
                queued.append(notify(decided[0].receiver, incident, decided[1], now))
        return released, queued

    def _decide(self, incident: IncidentRecord, now: datetime) -> tuple[Route, Action] | None:
        """The incident's route and the action the dedup table decides now, if any."""
        route = self.pipeline.router.route_to(incident.labels, incident.receiver)
        if route is None or not route.receiver.has_destination:
            return None
        decision = decide(
            incident, _last_alert(incident), now, route.dedup_window, route.reopen_window
        )
        return None if decision.action is None else (route, decision.action)

    def wake(self) -> None:
        """Look again now (a silence was created or expired)."""
        self._wake.set()

    async def _next_wait(self) -> float:
        now = self.clock()
        end = await self.pipeline.runner.read(
            lambda connection: silence_ends.next_end(connection, now)
        )
        return seconds_until(end, now, SAFETY_INTERVAL)

    async def run(self) -> None:
        """The watcher: replay at start, then at each silence or window end (and every
        minute)."""
        while True:
            self._wake.clear()
            try:
                await self.replay_expired(self.clock())
                wait = await self._next_wait()
            except Exception:  # the database may be away for a while; keep watching
                log.warning("silence replay failed; retrying", exc_info=True)
                wait = RETRY_AFTER_ERROR.total_seconds()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: a cancel is never lost
                async with asyncio.timeout(wait):
                    await self._wake.wait()
