"""Stage 6, save: the batch's decisions written, in its transaction.

Changed incidents are updated and new ones inserted, getting their ids (two replicas
inserting the same key at once: the partial unique index makes the second wait, then
fail; its whole transaction is retried by the runner and then finds the first one's
incident). Then one ``alert_events`` row per case (the incident's timeline) and the outbox
rows of the notifications queued are appended (:mod:`lumen_bridge.store.sql.append`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lumen_bridge.domain.alertmanager import Alert
from lumen_bridge.pipeline.batch import Batch, Case, Outcome
from lumen_bridge.pipeline.enqueue import build_notifications
from lumen_bridge.store import incidents
from lumen_bridge.store.sql.append import append

__all__ = ["SaveStage"]


class SaveStage:
    """Writes the incidents, the events and the outbox rows."""

    def __call__(self, batch: Batch) -> None:
        """Save everything the earlier stages decided."""
        incidents.save(batch.connection, batch.touched.values())
        batch.notifications = [
            notification
            for (_, now), queued in zip(batch.received, batch.queued, strict=True)
            for notification in build_notifications(queued, now)
        ]
        append(
            batch.connection,
            [
                *(_unrouted(alert, now) for _, alert, now in batch.unrouted),
                *(_event(case) for case in batch.cases),
            ],
            batch.notifications,
        )


def _event(case: Case) -> dict[str, Any]:
    """The ``alert_events`` row of a closed case."""
    assert case.outcome is not None
    assert case.incident is not None
    incident_id, receiver = case.incident.id, case.route.receiver.name
    return _row(case.alert, case.now, incident_id, receiver, case.outcome, case.reason)


def _unrouted(alert: Alert, now: datetime) -> dict[str, Any]:
    """The ``alert_events`` row of an alert no route takes."""
    return _row(alert, now, None, None, Outcome.IGNORED, "unrouted")


def _row(
    alert: Alert,
    now: datetime,
    incident_id: int | None,
    receiver: str | None,
    outcome: Outcome,
    reason: str,
) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "received_at": now,
        "receiver": receiver,
        "fingerprint": alert.identity,
        "status": alert.status,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "outcome": outcome.value,
        "reason": reason,
    }
