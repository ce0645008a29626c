"""Stage 4, enqueue: turn queued decisions into outbox rows.

Pages are batched: one e-mail per receiver per webhook delivery for the firing
alerts and one for the resolved ones. Tickets and webhooks get one row per incident
action. Each item keeps a snapshot of the alert as it was decided, and a per-incident
sequence number that a unique constraint makes a second copy impossible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lumen_bridge.pipeline.dedup import Action
from lumen_bridge.store.incidents import IncidentRecord
from lumen_bridge.store.models import OutboxStatus
from lumen_bridge.store.outbox import NewNotification


@dataclass(frozen=True, slots=True)
class Queued:
    """One notification decided for one incident."""

    kind: str
    receiver: str
    incident: IncidentRecord
    action: Action
    seq: int


def dedup_key(incident_id: int | None) -> str:
    """The ticket system's stable key of an incident."""
    return f"lumen-{incident_id}"


def snapshot(incident: IncidentRecord, action: Action) -> dict[str, Any]:
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
    """Group queued decisions into outbox rows, each with its items (incidents saved first)."""
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
