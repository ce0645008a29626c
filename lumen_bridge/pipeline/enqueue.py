"""Stage 5, enqueue: a notification for every case still open, and the outbox rows they make.

Each queued notification takes its incident's next sequence number; a unique constraint on
(incident, sequence) makes a second copy impossible. Pages are batched: one e-mail per
receiver per webhook delivery for the firing alerts and one for the resolved ones. Tickets
and webhooks get one row per incident action. Each row's items keep a snapshot of the
alert as it was decided (:class:`~lumen_bridge.domain.notification.AlertSnapshot`).
"""

from __future__ import annotations

from datetime import datetime

from lumen_bridge.config import Receiver
from lumen_bridge.domain.dedup import Action
from lumen_bridge.domain.notification import AlertSnapshot
from lumen_bridge.pipeline.batch import Batch, Case, Outcome, Queued
from lumen_bridge.store.incidents import IncidentRecord
from lumen_bridge.store.models import OutboxStatus
from lumen_bridge.store.sql.append import NewNotification

__all__ = ["EnqueueStage", "build_notifications", "dedup_key", "notify", "snapshot"]


def notify(receiver: Receiver, incident: IncidentRecord, action: Action, now: datetime) -> Queued:
    """Queue ``action`` for ``incident`` to ``receiver``, under the incident's next sequence.

    A firing notification marks the incident as told and no longer held back.
    """
    incident.notify_seq += 1
    incident.last_notified_at = now
    if action is not Action.RESOLVE:
        incident.notified = True
        incident.held = False
    return Queued(receiver.type, receiver.name, incident, action, incident.notify_seq)


class EnqueueStage:
    """Queues a case's notification, with its webhook's, and closes it as ``queued``."""

    def __call__(self, batch: Batch, case: Case) -> None:
        """Queue the notification ``case`` calls for."""
        incident, decision = case.decided()
        assert decision.action is not None  # a case without one closed at dedup
        batch.queued[case.webhook].append(
            notify(case.route.receiver, incident, decision.action, case.now)
        )
        case.close(Outcome.QUEUED, decision.reason.value)


def dedup_key(incident_id: int | None) -> str:
    """The ticket system's stable key of an incident."""
    return f"lumen-{incident_id}"


def snapshot(incident: IncidentRecord, action: Action) -> AlertSnapshot:
    """The alert as the notifier will describe it."""
    return {
        "incident_id": incident.id,
        "fingerprint": incident.identity,
        "dedup_key": dedup_key(incident.id),
        "action": action.value,
        "status": incident.status,
        "alertname": incident.alertname,
        "severity": incident.severity,
        "labels": incident.labels,
        "annotations": incident.annotations,
        "starts_at": incident.starts_at.isoformat(),
        "ends_at": incident.ends_at.isoformat() if incident.ends_at else None,
        "occurrences": incident.occurrences,
        "generator_url": incident.generator_url,
        "alertmanager_url": incident.alertmanager_url,
        "group_key": incident.group_key,
    }


def _email_action(action: Action) -> str:
    return "resolve" if action is Action.RESOLVE else "firing"


def build_notifications(queued: list[Queued], now: datetime) -> list[NewNotification]:
    """Group one webhook's queued notifications into outbox rows, each with its items
    (the incidents must be saved first: their ids are in the keys)."""
    groups: dict[tuple[str, str | int | None, int], list[Queued]] = {}
    for q in queued:
        group: tuple[str, str | int | None, int] = (
            (q.receiver, _email_action(q.action), 0)
            if q.kind == "email"
            else (q.receiver, q.incident.id, q.seq)
        )
        groups.setdefault(group, []).append(q)
    notifications = []
    for members in groups.values():
        first = members[0]
        row = {
            "receiver": first.receiver,
            "kind": first.kind,
            "action": _email_action(first.action) if first.kind == "email" else first.action.value,
            "idempotency_key": f"lumen-{first.incident.id}-{first.action.value}-{first.seq}",
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "lease_until": None,
            "delivered_at": None,
            "last_error": None,
        }
        items = [
            {
                "incident_id": q.incident.id,
                "seq": q.seq,
                "action": q.action.value,
                "snapshot": snapshot(q.incident, q.action),
            }
            for q in members
        ]
        notifications.append(NewNotification(row, items))
    return notifications
