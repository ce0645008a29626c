"""Stage 3, dedup: what an alert means for its incident, and the incident brought up to date.

The decision is the table of docs/contract.md §5 (:func:`lumen_bridge.domain.dedup.decide`).
A new incident (cases 1 and 8) replaces the current one of its key, which is retired. A
stale copy changes nothing; any other alert is recorded on its incident (last seen,
occurrences, labels, the episode's status). A case whose decision calls for no
notification closes here: ``deduplicated`` for a repeat (or the reminder of an
acknowledged episode, docs/lifecycle.md), ``ignored`` otherwise.
"""

from __future__ import annotations

from datetime import datetime

from lumen_bridge.domain.alertmanager import Alert, WebhookPayload
from lumen_bridge.domain.dedup import Decision, Reason, decide
from lumen_bridge.pipeline.batch import Batch, Case, Outcome
from lumen_bridge.store import incidents
from lumen_bridge.store.incidents import IncidentRecord

__all__ = ["DedupStage", "record"]


class DedupStage:
    """Decides a case against its key's current incident."""

    def __call__(self, batch: Batch, case: Case) -> None:
        """Decide ``case``; a new incident becomes its key's current one."""
        route, alert, now = case.route, case.alert, case.now
        key = (route.receiver.name, alert.identity)
        incident = batch.current.get(key)
        decision = decide(incident, alert, now, route.dedup_window, route.reopen_window)
        if decision.new_incident:  # cases 1 and 8; the old incident, if any, is retired
            if incident is not None:
                incident.is_current = False
                batch.touched[id(incident)] = incident
            incident = incidents.new_record(key[0], alert, now, case.payload.external_url)
            batch.current[key] = incident
        assert incident is not None
        batch.touched[id(incident)] = incident
        case.incident, case.decision = incident, decision
        if decision.reason is Reason.STALE:
            case.close(Outcome.IGNORED, decision.reason.value)
            return
        record(incident, alert, decision, case.payload, now)
        if decision.action is None:
            outcome = Outcome.DEDUPLICATED if decision.deduplicated else Outcome.IGNORED
            case.close(outcome, decision.reason.value)


def record(
    incident: IncidentRecord,
    alert: Alert,
    decision: Decision,
    payload: WebhookPayload,
    now: datetime,
) -> None:
    """Bring ``incident`` up to date with ``alert`` (not a stale copy), as ``decision`` says."""
    incident.last_seen = now
    # A repeat rarely changes its labels or annotations: only then are they written again.
    if incident.labels != alert.labels or incident.annotations != alert.annotations:
        incident.labels = dict(alert.labels)
        incident.annotations = dict(alert.annotations)
        incident.details_changed = True
    if alert.generator_url and incident.generator_url != alert.generator_url:
        incident.generator_url = alert.generator_url
    if payload.external_url and incident.alertmanager_url != payload.external_url:
        incident.alertmanager_url = payload.external_url
    if incident.group_key != payload.group_key:
        incident.group_key = payload.group_key
    if incident.ends_at != alert.ends_at:
        incident.ends_at = alert.ends_at
    if decision.new_episode:  # a new episode is neither acknowledged nor escalated
        incident.status = "firing"
        incident.resolved_at = None
        incident.notified = False
        incident.held = False
        incident.acked_at = None
        incident.new_episode = True
    if alert.status == "firing":
        incident.occurrences += 1
        incident.starts_at = max(incident.starts_at, alert.starts_at)
    else:
        incident.status = "resolved"
        incident.resolved_at = now
        incident.held = False
