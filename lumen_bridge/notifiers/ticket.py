"""The ticket system: one ticket per incident, driven by open/update/resolve/reopen.

The body is the JSON of docs/contract.md §7 (an acknowledgement's ``update`` adds
``acknowledged``: who, when, their comment); ``Idempotency-Key`` is the outbox row's key
(unique per incident, action and sequence), so every retry of one action carries
the same key and the ticket system can drop the copies.
"""

from __future__ import annotations

from typing import Any

from lumen_bridge.config import RunbookConfig
from lumen_bridge.domain.notification import AlertSnapshot, Delivery
from lumen_bridge.notifiers.base import Result
from lumen_bridge.notifiers.http import JsonPoster
from lumen_bridge.notifiers.links import incident_url, silence_url
from lumen_bridge.notifiers.runbook import runbook_url

_TITLE_SKIP = ("alertname", "severity")


def title(alert: AlertSnapshot) -> str:
    """``Alertname (label=value, ...)``: the alert name and its distinguishing labels."""
    labels = alert["labels"]
    rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _TITLE_SKIP)
    name = alert["alertname"] or "alert"
    return f"{name} ({rest})" if rest else name


def ticket_body(
    alert: AlertSnapshot, action: str, runbooks: RunbookConfig, external_url: str | None = None
) -> dict[str, Any]:
    """The ticket system's JSON for one incident action; with ``external_url`` it also links
    the incident's page on the bridge (``incident_url``) and a silence form (``silence_url``).
    The ``update`` of an acknowledgement says who and when (``acknowledged``)."""
    annotations = alert["annotations"]
    body = {
        "version": "1",
        "action": action,
        "dedup_key": alert["dedup_key"],
        "incident_id": str(alert["incident_id"]),
        "status": alert["status"],
        "severity": alert["severity"] or "",
        "title": title(alert),
        "summary": annotations.get("summary", ""),
        "description": annotations.get("description", ""),
        "runbook_url": runbook_url(runbooks, alert["alertname"], annotations),
        "labels": alert["labels"],
        "annotations": annotations,
        "starts_at": alert["starts_at"],
        "ends_at": alert["ends_at"],
        "occurrences": alert["occurrences"],
        "generator_url": alert["generator_url"],
        "alertmanager_url": alert["alertmanager_url"],
    }
    if external_url:
        body["incident_url"] = incident_url(external_url, alert["incident_id"])
        body["silence_url"] = silence_url(external_url, alert["labels"])
    ack = alert.get("acknowledged")
    if ack is not None:
        body["acknowledged"] = {"by": ack["by"], "at": ack["at"], "comment": ack["comment"]}
    return body


class TicketNotifier:
    """POSTs each incident action to the ticket system."""

    def __init__(
        self, poster: JsonPoster, runbooks: RunbookConfig, external_url: str | None = None
    ) -> None:
        self.poster = poster
        self.runbooks = runbooks
        self.external_url = external_url

    async def send(self, delivery: Delivery) -> Result:
        """Send the row's one incident action."""
        [alert] = delivery.alerts
        body = ticket_body(alert, delivery.action, self.runbooks, self.external_url)
        return await self.poster.post(body, {"Idempotency-Key": delivery.idempotency_key})
