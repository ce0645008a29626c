"""The webhook pipeline: route → dedup → suppress → enqueue, in one transaction.

:meth:`Pipeline.run_many` is the whole flow for the webhooks that
:mod:`lumen_bridge.store.batch` commits together, in one transaction. Each body is parsed
here, where it is decided (in the writer process by default), not by the HTTP handler:
one parse per webhook, off the serving process. Every alert is
stored (an ``alert_events`` row, and its incident updated) and every notification
decided is written to the outbox in the same transaction, so the 200 answer means
all of it is durable. Conflicts between concurrent deliveries are settled by the
database (see :mod:`lumen_bridge.store.incidents`); a transaction that lost a race
on PostgreSQL is retried from the start and then sees the winner's decision.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection

from lumen_bridge.config import EmailReceiver, Settings, TicketReceiver, WebhookReceiver
from lumen_bridge.matchers import from_api
from lumen_bridge.payload import Alert, Rejected, WebhookPayload, parse
from lumen_bridge.pipeline.dedup import Action, Decision, Reason, decide
from lumen_bridge.pipeline.enqueue import Queued, build_notifications
from lumen_bridge.pipeline.route import Route, Router
from lumen_bridge.pipeline.suppress import SuppressedBy, Suppression
from lumen_bridge.store import appends, incidents, reads, silences
from lumen_bridge.store.db import Transactions
from lumen_bridge.store.incidents import IncidentRecord

__all__ = ["Answer", "Delivery", "Outcome", "Pipeline", "Summary", "Webhook", "notify"]

Delivery = tuple[WebhookPayload, datetime]
"""One webhook payload and the moment it was received."""


class Webhook(NamedTuple):
    """A webhook as it arrived: its raw body (what crosses the writer's pipe) and when."""

    body: bytes
    received_at: datetime


class Outcome(enum.StrEnum):
    """What happened to one alert on one route (the keys of the webhook answer)."""

    QUEUED = "queued"
    DEDUPLICATED = "deduplicated"
    SUPPRESSED = "suppressed"
    IGNORED = "ignored"


_NO_OUTCOMES = {o.value: 0 for o in Outcome}


@dataclass(slots=True)
class Summary:
    """The webhook answer, plus what the metrics need."""

    alerts: int
    outcomes: dict[str, int] = field(default_factory=_NO_OUTCOMES.copy)
    statuses: dict[str, int] = field(default_factory=dict)
    """Alerts by status (``firing``, ``resolved``)."""
    suppressed_by: dict[str, int] = field(default_factory=dict)
    """Suppressed alerts by :class:`SuppressedBy` reason."""

    def as_json(self) -> dict[str, int]:
        """The body of the 200 answer."""
        return {"alerts": self.alerts, **self.outcomes}


Answer = Summary | Rejected
"""What became of one webhook: its summary, or why its body is not a webhook."""


def notify(
    receiver: EmailReceiver | TicketReceiver | WebhookReceiver,
    incident: IncidentRecord,
    action: Action,
    now: datetime,
) -> Queued:
    """Queue ``action`` for ``incident`` to ``receiver``, under the incident's next sequence.

    A firing notification marks the incident as told and no longer held back.
    """
    incident.notify_seq += 1
    incident.last_notified_at = now
    if action is not Action.RESOLVE:
        incident.notified = True
        incident.held = False
    return Queued(receiver.type, receiver.name, incident, action, incident.notify_seq)


class Pipeline:
    """Decides and records what each alert of a webhook means."""

    def __init__(self, settings: Settings, transactions: Transactions) -> None:
        self.router = Router(settings)
        self.flag = settings.suppression.flag
        self.transactions = transactions

    async def run_many(self, webhooks: Sequence[Webhook]) -> list[Answer]:
        """Decide several webhooks, in order, in one transaction; one answer each."""
        return await self.transactions.run(self.work(webhooks))

    def work(self, webhooks: Sequence[Webhook]) -> Callable[[Connection], list[Answer]]:
        """The transaction that decides ``webhooks``: each body is parsed now, once, and
        the valid ones are processed in it (again, if the transaction is retried).

        Identical bodies are parsed once (the payloads are immutable): Alertmanager's HA
        peers send the same bytes, and so does a group sent again unchanged.
        """
        by_body: dict[bytes, WebhookPayload | Rejected] = {}
        for webhook in webhooks:
            if webhook.body not in by_body:
                by_body[webhook.body] = parse(webhook.body)
        parsed = [by_body[webhook.body] for webhook in webhooks]
        deliveries = [
            (payload, webhook.received_at)
            for payload, webhook in zip(parsed, webhooks, strict=True)
            if isinstance(payload, WebhookPayload)
        ]

        def decide(connection: Connection) -> list[Answer]:
            summaries = iter(self.process(connection, deliveries) if deliveries else [])
            return [p if isinstance(p, Rejected) else next(summaries) for p in parsed]

        return decide

    def suppression(self, connection: Connection, now: datetime) -> Suppression:
        """The flag and the silences in force at ``now``."""
        return self._suppression(silences.active_matchers(connection, now))

    def _suppression(self, matcher_lists: list[list[dict[str, Any]]]) -> Suppression:
        """The flag and the silences with ``matcher_lists``."""
        return Suppression(
            flag=self.flag or any(not matchers for matchers in matcher_lists),
            silences=[[from_api(m) for m in matchers] for matchers in matcher_lists if matchers],
        )

    def process(self, connection: Connection, deliveries: Sequence[Delivery]) -> list[Summary]:
        """Decide ``deliveries`` in the caller's transaction on ``connection``; one summary
        each."""
        summaries = [Summary(alerts=len(payload.alerts)) for payload, _ in deliveries]
        pairs: list[tuple[int, Alert, Route]] = []
        events: list[dict[str, Any]] = []
        routed: dict[int, Sequence[Route]] = {}  # by alert: twins share their parsed payload
        for index, (payload, now) in enumerate(deliveries):
            statuses = summaries[index].statuses
            for alert in payload.alerts:
                statuses[alert.status] = statuses.get(alert.status, 0) + 1
                routes = routed.get(id(alert))
                if routes is None:
                    routes = routed[id(alert)] = self.router.route(alert.labels)
                pairs.extend((index, alert, route) for route in routes)
                if not routes:
                    summaries[index].outcomes[Outcome.IGNORED] += 1
                    events.append(_event(alert, now, None, None, Outcome.IGNORED, "unrouted"))

        batch = reads.read(
            connection,
            ((route.receiver.name, alert.identity) for _, alert, route in pairs),
            max(now for _, now in deliveries),
        )
        current = batch.current
        suppression = self._suppression(batch.silences)

        decided: list[tuple[Alert, datetime, IncidentRecord, str, Outcome, str]] = []
        touched: dict[int, IncidentRecord] = {}
        queued: list[list[Queued]] = [[] for _ in deliveries]
        for index, alert, route in pairs:
            payload, now = deliveries[index]
            summary = summaries[index]
            key = (route.receiver.name, alert.identity)
            incident = current.get(key)
            decision = decide(incident, alert, now, route.dedup_window, route.reopen_window)
            if decision.new_incident:  # cases 1 and 8; the old incident, if any, is retired
                if incident is not None:
                    incident.is_current = False
                    touched[id(incident)] = incident
                incident = incidents.new_record(key[0], alert, now, payload.external_url)
                current[key] = incident
            assert incident is not None
            touched[id(incident)] = incident
            held_by = suppression.reason(alert.labels)
            outcome, reason = _apply(incident, alert, decision, route, held_by, now, payload)
            summary.outcomes[outcome] += 1
            if outcome is Outcome.SUPPRESSED and held_by is not None:
                summary.suppressed_by[held_by] = summary.suppressed_by.get(held_by, 0) + 1
            elif outcome is Outcome.QUEUED:
                assert decision.action is not None
                queued[index].append(notify(route.receiver, incident, decision.action, now))
            decided.append((alert, now, incident, route.receiver.name, outcome, reason))

        # New incidents get their ids here. Two replicas inserting the same key at once:
        # the partial unique index makes the second wait, then fail; its whole transaction
        # is retried (store.db.Transactions) and then finds the first one's incident.
        incidents.save(connection, touched.values())
        events += [
            _event(alert, now, incident.id, receiver, outcome, reason)
            for alert, now, incident, receiver, outcome, reason in decided
        ]
        appends.append(
            connection,
            events,
            [
                notification
                for (_, now), notifications in zip(deliveries, queued, strict=True)
                for notification in build_notifications(notifications, now)
            ],
        )
        return summaries


def _apply(
    incident: IncidentRecord,
    alert: Alert,
    decision: Decision,
    route: Route,
    held_by: SuppressedBy | None,
    now: datetime,
    payload: WebhookPayload,
) -> tuple[Outcome, str]:
    """Update ``incident`` for ``alert`` and say what came of it."""
    if decision.reason is Reason.STALE:
        return Outcome.IGNORED, decision.reason.value

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
    if decision.new_episode:
        incident.status = "firing"
        incident.resolved_at = None
        incident.notified = False
        incident.held = False
    if alert.status == "firing":
        incident.occurrences += 1
        incident.starts_at = max(incident.starts_at, alert.starts_at)
    else:
        incident.status = "resolved"
        incident.resolved_at = now
        incident.held = False

    action = decision.action
    if action is None:
        outcome = Outcome.DEDUPLICATED if decision.deduplicated else Outcome.IGNORED
        return outcome, decision.reason.value
    if action is not Action.RESOLVE and held_by is not None:
        incident.held = True
        return Outcome.SUPPRESSED, held_by.value
    if not route.receiver.has_destination:
        return Outcome.IGNORED, "no-destination"
    return Outcome.QUEUED, decision.reason.value


def _event(
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
