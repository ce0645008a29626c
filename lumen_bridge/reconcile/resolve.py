"""Resolving through the normal path: a resolved alert made for each incident, run through
the webhook pipeline.

The pipeline decides it like any resolve (docs/contract.md §5): one resolve notification
to the receivers told of the firing (case 4), nothing for a second one (case 5), so that
two replicas resolving the same incident tell the receivers once. Its timeline entry says
``resolved by reconcile`` instead of the dedup table's reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lumen_bridge.domain.alertmanager import WebhookPayload
from lumen_bridge.domain.dedup import Reason
from lumen_bridge.pipeline import Pipeline
from lumen_bridge.pipeline.batch import Batch
from lumen_bridge.store.incidents import IncidentRecord

__all__ = ["REASON", "ReconcilePipeline", "resolved_payloads"]

REASON = "resolved by reconcile"
"""The timeline's reason for an incident that reconcile resolved."""
RECEIVER = "lumen-bridge-reconcile"
"""The ``receiver`` of the payloads reconcile makes (routing never reads it)."""
_RESOLVING = (Reason.RESOLVE, Reason.RESOLVE_UNTOLD)


class ReconcilePipeline(Pipeline):
    """The webhook pipeline, whose resolves are marked as reconcile's in the timeline."""

    def decide(self, batch: Batch) -> None:
        """Decide as the pipeline does, then give every case that resolves an incident
        reconcile's reason (a repeated resolve keeps ``resolve-repeat``)."""
        super().decide(batch)
        for case in batch.cases:
            if case.decision is not None and case.decision.reason in _RESOLVING:
                case.reason = REASON


def resolved_payloads(incidents: Sequence[IncidentRecord], now: datetime) -> list[WebhookPayload]:
    """Version-4 payloads that resolve ``incidents`` at ``now``, one per Alertmanager group
    (the incident's ``groupKey`` is kept; pages are batched per payload), with one alert
    per identity: the incident's labels, annotations, ``startsAt`` and fingerprint."""
    groups: dict[tuple[str, str], dict[str, dict[str, object]]] = {}
    for incident in incidents:
        alerts = groups.setdefault((incident.group_key, incident.alertmanager_url), {})
        alerts[incident.identity] = {
            "status": "resolved",
            "labels": incident.labels,
            "annotations": incident.annotations,
            "startsAt": incident.starts_at,
            "endsAt": now,
            "generatorURL": incident.generator_url,
            "fingerprint": incident.identity,
        }
    return [
        WebhookPayload.model_validate(
            {
                "version": "4",
                "groupKey": group_key,
                "status": "resolved",
                "receiver": RECEIVER,
                "externalURL": external_url,
                "alerts": list(alerts.values()),
            }
        )
        for (group_key, external_url), alerts in groups.items()
    ]
