"""The webhook pipeline: route → dedup → suppress → enqueue, in one transaction.

:meth:`Pipeline.run_many` is the whole flow for the webhook deliveries that
:mod:`lumen_bridge.pipeline.batch` commits together, in one transaction. Every alert is
stored (an ``alert_events`` row, and its incident updated) and every notification
decided is written to the outbox in the same transaction, so the 200 answer means
all of it is durable. Conflicts between concurrent deliveries are settled by the
database (see :mod:`lumen_bridge.store.incidents`); a transaction that lost a race
on PostgreSQL is retried from the start and then sees the winner's decision.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from lumen_bridge.config import EmailReceiver, Settings, TicketReceiver, WebhookReceiver
from lumen_bridge.matchers import from_api
from lumen_bridge.payload import Alert, WebhookPayload
from lumen_bridge.pipeline.dedup import Action, Decision, Reason, decide
from lumen_bridge.pipeline.enqueue import Queued, build_notifications
from lumen_bridge.pipeline.route import Route, Router
from lumen_bridge.pipeline.suppress import SuppressedBy, Suppression
from lumen_bridge.store import incidents, silences
from lumen_bridge.store.db import Transactions
from lumen_bridge.store.models import AlertEvent, Base, Incident

__all__ = ["Delivery", "Outcome", "Pipeline", "Summary", "notify"]

Delivery = tuple[WebhookPayload, datetime]
"""One webhook payload and the moment it was received."""


class Outcome(enum.StrEnum):
    """What happened to one alert on one route (the keys of the webhook answer)."""

    QUEUED = "queued"
    DEDUPLICATED = "deduplicated"
    SUPPRESSED = "suppressed"
    IGNORED = "ignored"


@dataclass
class Summary:
    """The webhook answer, plus what the metrics need."""

    alerts: int
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    suppressed_by: Counter[SuppressedBy] = field(default_factory=Counter)

    def as_json(self) -> dict[str, int]:
        """The body of the 200 answer."""
        return {"alerts": self.alerts} | {o.value: self.outcomes[o] for o in Outcome}


def notify(
    receiver: EmailReceiver | TicketReceiver | WebhookReceiver,
    incident: Incident,
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

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        transactions: Transactions,
    ) -> None:
        self.router = Router(settings)
        self.flag = settings.suppression.flag
        self.sessions = sessions
        self.transactions = transactions

    async def run_many(self, deliveries: Sequence[Delivery]) -> list[Summary]:
        """Process several deliveries, in order, in one transaction; one summary each."""
        return await self.transactions.run(lambda session: self._process(session, deliveries))

    def suppression(self, session: Session, now: datetime) -> Suppression:
        """The flag and the silences in force at ``now``."""
        matcher_lists = silences.active_matchers(session, now)
        return Suppression(
            flag=self.flag or any(not matchers for matchers in matcher_lists),
            silences=[[from_api(m) for m in matchers] for matchers in matcher_lists if matchers],
        )

    def _process(self, session: Session, deliveries: Sequence[Delivery]) -> list[Summary]:
        summaries = [Summary(alerts=len(payload.alerts)) for payload, _ in deliveries]
        pairs: list[tuple[int, Alert, Route]] = []
        events: list[dict[str, Any]] = []
        for index, (payload, now) in enumerate(deliveries):
            for alert in payload.alerts:
                routes = self.router.route(alert.labels)
                pairs.extend((index, alert, route) for route in routes)
                if not routes:
                    summaries[index].outcomes[Outcome.IGNORED] += 1
                    events.append(_event(alert, now, None, None, Outcome.IGNORED, "unrouted"))

        current = incidents.lock(
            session, ((route.receiver.name, alert.identity) for _, alert, route in pairs)
        )
        suppression = self.suppression(session, max(now for _, now in deliveries))

        decided: list[tuple[Alert, datetime, Incident, str, Outcome, str]] = []
        queued: list[list[Queued]] = [[] for _ in deliveries]
        for index, alert, route in pairs:
            payload, now = deliveries[index]
            summary = summaries[index]
            key = (route.receiver.name, alert.identity)
            incident = current.get(key)
            decision = decide(incident, alert, now, route.dedup_window, route.reopen_window)
            if decision.new_incident:
                incident = _open(session, incident, route, alert, now, payload)
                current[key] = incident
            assert incident is not None
            held_by = suppression.reason(alert.labels)
            outcome, reason = _apply(incident, alert, decision, route, held_by, now, payload)
            summary.outcomes[outcome] += 1
            if outcome is Outcome.SUPPRESSED and held_by is not None:
                summary.suppressed_by[held_by] += 1
            elif outcome is Outcome.QUEUED:
                assert decision.action is not None
                queued[index].append(notify(route.receiver, incident, decision.action, now))
            decided.append((alert, now, incident, route.receiver.name, outcome, reason))

        # New incidents get their ids here. Two replicas inserting the same key at once:
        # the partial unique index makes the second wait, then fail; its whole transaction
        # is retried (store.db.Transactions) and then finds the first one's incident.
        session.flush()
        events += [
            _event(alert, now, incident.id, receiver, outcome, reason)
            for alert, now, incident, receiver, outcome, reason in decided
        ]
        if events:  # Core, not the ORM's bulk path: these rows are never read back here
            session.execute(insert(Base.metadata.tables[AlertEvent.__tablename__]), events)
        for (_, now), notifications in zip(deliveries, queued, strict=True):
            session.add_all(build_notifications(notifications, now))
        session.flush()
        return summaries


def _open(
    session: Session,
    old: Incident | None,
    route: Route,
    alert: Alert,
    now: datetime,
    payload: WebhookPayload,
) -> Incident:
    """Start a new incident for ``alert`` (cases 1 and 8), retiring ``old`` if there is one."""
    if old is not None:
        old.is_current = False
        session.flush()  # before the new row: one current incident per key, always
    new = Incident(**incidents.incident_row(route.receiver.name, alert, now, payload.external_url))
    session.add(new)
    return new


def _apply(
    incident: Incident,
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
    # A repeat rarely changes these: assigning only what differs keeps the ORM's
    # change tracking, and the UPDATE, small.
    if incident.labels != alert.labels:
        incident.labels = dict(alert.labels)
    if incident.annotations != alert.annotations:
        incident.annotations = dict(alert.annotations)
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
