"""Explain: what the pipeline would do with a webhook, decided for real and then undone.

The stages run exactly as for a real post, on the live state, in one write transaction that
is then rolled back: what explain says is what a post of the same body would do at the same
moment, and nothing is stored or sent. For each alert it tells the routes tried and why, the
incident as it was, the dedup decision (the row of the table in docs/contract.md §5), what
held the notification back, and the notification that would be queued with its
idempotency key. A new incident's number is assigned when it is stored: on PostgreSQL a real
post may number it higher than explain did (sequences are not rolled back).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lumen_bridge.domain.alertmanager import Alert, WebhookPayload
from lumen_bridge.domain.dedup import Reason
from lumen_bridge.domain.matchers import matches_all
from lumen_bridge.domain.suppression import usable_matchers
from lumen_bridge.pipeline.batch import Batch, Case, Outcome, Summary
from lumen_bridge.pipeline.pipeline import Pipeline, summaries
from lumen_bridge.store import silences
from lumen_bridge.store.incidents import IncidentRecord, Key
from lumen_bridge.store.sql.append import NewNotification

__all__ = ["Explanation", "explain"]

_TABLE_ROWS: dict[Reason, int | None] = {
    Reason.OPEN: 1,  # 8 when it replaces an incident: see _row
    Reason.REPEAT: 2,
    Reason.REMIND: 3,
    Reason.RESOLVE: 4,
    Reason.RESOLVE_REPEAT: 5,
    Reason.STALE: 6,
    Reason.REOPEN: 7,
    Reason.UNTOLD: None,  # firing, and nobody was told yet (held back, or no destination)
    Reason.RESOLVE_UNTOLD: None,  # the resolve of an incident nobody was told of
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a post of the webhook would do: its answer, each alert's story, the rows."""

    answer: Summary
    alerts: list[dict[str, Any]]
    notifications: list[NewNotification]


class _Undone(Exception):
    """Carries the explanation out of its transaction, which it rolls back."""

    def __init__(self, explanation: Explanation) -> None:
        super().__init__("explained, rolled back")
        self.explanation = explanation


async def explain(pipeline: Pipeline, payload: WebhookPayload, now: datetime) -> Explanation:
    """Run ``payload`` through every stage at ``now``, then roll everything back."""

    def work(connection: Connection) -> None:
        batch = Batch(connection, [(payload, now)], queued=[[]])
        pipeline.route(batch)
        pipeline.lock(batch)
        before = {key: dataclasses.replace(record) for key, record in batch.current.items()}
        pipeline.decide(batch)
        pipeline.save(batch)
        holding = silences.holding(connection, now)
        held = [(s.id, m) for s in holding if (m := usable_matchers(s.matchers))]
        alerts = [_alert(pipeline, batch, alert, before, held) for alert in payload.alerts]
        [answer] = summaries(batch)
        raise _Undone(Explanation(answer, alerts, batch.notifications))

    try:
        await pipeline.runner.write(work)
    except _Undone as done:
        return done.explanation
    raise AssertionError("the explanation was not made")  # pragma: no cover


def _alert(
    pipeline: Pipeline,
    batch: Batch,
    alert: Alert,
    before: dict[Key, IncidentRecord],
    held: list[tuple[str, list[Any]]],
) -> dict[str, Any]:
    cases = [case for case in batch.cases if case.alert is alert]
    return {
        "identity": alert.identity,
        "alertname": alert.alertname,
        "status": alert.status,
        "starts_at": alert.starts_at.isoformat(),
        "labels": alert.labels,
        "routes": pipeline.router.trace(alert.labels),
        "unrouted": not cases,
        "decisions": [_case(batch, case, before, held) for case in cases],
    }


def _case(
    batch: Batch,
    case: Case,
    before: dict[Key, IncidentRecord],
    held: list[tuple[str, list[Any]]],
) -> dict[str, Any]:
    incident, decision = case.decided()
    old = before.get((case.route.receiver.name, case.alert.identity))
    row = _TABLE_ROWS[decision.reason]
    if decision.reason is Reason.OPEN and old is not None:
        row = 8
    return {
        "receiver": case.route.receiver.name,
        "incident": {
            "id": incident.id,
            "new": decision.new_incident,
            "before": None if old is None or decision.new_incident else _state(old),
        },
        "dedup": {
            "reason": decision.reason.value,
            "table_row": row,
            "action": None if decision.action is None else decision.action.value,
        },
        "held_by": _held_by(case, held),
        "outcome": None if case.outcome is None else case.outcome.value,
        "why": case.reason,
        "notification": _notification(batch, incident) if case.outcome is Outcome.QUEUED else None,
    }


def _state(incident: IncidentRecord) -> dict[str, Any]:
    """What the decision looked at."""
    return {
        "status": incident.status,
        "starts_at": incident.starts_at.isoformat(),
        "notified": incident.notified,
        "last_notified_at": (
            incident.last_notified_at.isoformat() if incident.last_notified_at else None
        ),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "held": incident.held,
    }


def _held_by(case: Case, held: list[tuple[str, list[Any]]]) -> dict[str, Any] | None:
    if case.suppressed_by is None:
        return None
    if case.suppressed_by == "flag":
        return {"flag": True, "silences": []}
    ids = [silence_id for silence_id, matchers in held if matches_all(matchers, case.alert.labels)]
    return {"flag": False, "silences": ids}


def _notification(batch: Batch, incident: IncidentRecord) -> dict[str, Any] | None:
    """The outbox row that carries ``incident`` in this batch, if any."""
    for notification in batch.notifications:
        if any(item["incident_id"] == incident.id for item in notification.items):
            row = notification.row
            return {
                "receiver": row["receiver"],
                "kind": row["kind"],
                "action": row["action"],
                "idempotency_key": row["idempotency_key"],
            }
    return None
