"""The default webhook: forwards the alert in Alertmanager's own version-4 shape.

Any tool that takes Alertmanager webhooks takes these; ``lumen`` adds the incident,
the action and the runbook link, and ``Idempotency-Key`` is stable across retries.
"""

from __future__ import annotations

from typing import Any

from lumen_bridge.config import RunbookConfig
from lumen_bridge.domain.notification import AlertSnapshot, Delivery
from lumen_bridge.notifiers.base import Result
from lumen_bridge.notifiers.http import JsonPoster
from lumen_bridge.notifiers.links import incident_url, silence_url
from lumen_bridge.notifiers.runbook import runbook_url

_NOT_ENDED = "0001-01-01T00:00:00Z"


def forward_body(
    alert: AlertSnapshot,
    delivery: Delivery,
    runbooks: RunbookConfig,
    external_url: str | None = None,
) -> dict[str, Any]:
    """A version-4 Alertmanager payload carrying the one alert of ``delivery`` (with
    ``external_url``, ``lumen`` links the incident's page and a silence form)."""
    labels = alert["labels"]
    annotations = alert["annotations"]
    return {
        "version": "4",
        "groupKey": alert["group_key"],
        "truncatedAlerts": 0,
        "status": alert["status"],
        "receiver": delivery.receiver,
        "groupLabels": {},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": alert["alertmanager_url"],
        "alerts": [
            {
                "status": alert["status"],
                "labels": labels,
                "annotations": annotations,
                "startsAt": alert["starts_at"],
                "endsAt": alert["ends_at"] or _NOT_ENDED,
                "generatorURL": alert["generator_url"],
                "fingerprint": alert.get("fingerprint", ""),
            }
        ],
        "lumen": {
            "action": delivery.action,
            "incident_id": str(alert["incident_id"]),
            "dedup_key": alert["dedup_key"],
            "occurrences": alert["occurrences"],
            "runbook_url": runbook_url(runbooks, alert["alertname"], annotations),
            **(
                {
                    "incident_url": incident_url(external_url, alert["incident_id"]),
                    "silence_url": silence_url(external_url, labels),
                }
                if external_url
                else {}
            ),
        },
    }


class WebhookNotifier:
    """POSTs each incident action to the default webhook."""

    def __init__(
        self, poster: JsonPoster, runbooks: RunbookConfig, external_url: str | None = None
    ) -> None:
        self.poster = poster
        self.runbooks = runbooks
        self.external_url = external_url

    async def send(self, delivery: Delivery) -> Result:
        """Forward the row's one alert."""
        [alert] = delivery.alerts
        body = forward_body(alert, delivery, self.runbooks, self.external_url)
        return await self.poster.post(body, {"Idempotency-Key": delivery.idempotency_key})
