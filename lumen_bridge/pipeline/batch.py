"""What the stages work on: a batch of webhooks, and one :class:`Case` per alert and route.

The stages (:mod:`lumen_bridge.pipeline.pipeline` lists them in order) work on one
:class:`Batch`: the route stage makes its cases; the dedup, suppress and enqueue stages
decide each case in turn, in order (a later twin in the batch sees what an earlier one
did), until one closes it with its :class:`Outcome`, the answer's count it adds to.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection

from lumen_bridge.config import EscalationStep, Receiver
from lumen_bridge.domain.alertmanager import Alert, Rejected, WebhookPayload
from lumen_bridge.domain.dedup import Action, Decision
from lumen_bridge.domain.suppression import Suppression
from lumen_bridge.store.incidents import IncidentRecord, Key
from lumen_bridge.store.sql.append import NewNotification

__all__ = [
    "Answer",
    "Batch",
    "Case",
    "Outcome",
    "Queued",
    "Received",
    "Route",
    "Summary",
    "Webhook",
]


class Webhook(NamedTuple):
    """A webhook as it arrived: its raw body (what crosses the writer's pipe) and when."""

    body: bytes
    received_at: datetime


Received = tuple[WebhookPayload, datetime]
"""A webhook's parsed payload and the moment it was received."""


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
    """Suppressed alerts by :class:`~lumen_bridge.domain.suppression.SuppressedBy` reason."""

    def as_json(self) -> dict[str, int]:
        """The body of the 200 answer."""
        return {"alerts": self.alerts, **self.outcomes}


Answer = Summary | Rejected
"""What became of one webhook: its summary, or why its body is not a webhook."""


@dataclass(frozen=True, slots=True)
class Route:
    """A configured route's receiver, with its windows resolved against the defaults."""

    receiver: Receiver
    dedup_window: timedelta
    reopen_window: timedelta
    escalation: tuple[EscalationStep, ...] = ()
    """Who is paged next while a page of this route is not acknowledged (docs/lifecycle.md)."""


@dataclass(frozen=True, slots=True)
class Queued:
    """One notification decided for one incident, under the incident's sequence ``seq``."""

    kind: str
    receiver: str
    incident: IncidentRecord
    action: Action
    seq: int


@dataclass(slots=True, eq=False)
class Case:
    """One alert on one route, as the stages decide it."""

    webhook: int
    """The index of its webhook in the batch."""
    alert: Alert
    payload: WebhookPayload
    now: datetime
    """When its webhook was received."""
    route: Route
    incident: IncidentRecord | None = None
    decision: Decision | None = None
    outcome: Outcome | None = None
    """Set once a stage has closed the case."""
    reason: str = ""
    """Why: shown in the incident's timeline."""
    suppressed_by: str | None = None

    def close(self, outcome: Outcome, reason: str) -> None:
        """Settle the case: no later stage looks at it again."""
        self.outcome = outcome
        self.reason = reason

    def decided(self) -> tuple[IncidentRecord, Decision]:
        """Its incident and the dedup decision (once the dedup stage has run)."""
        assert self.incident is not None
        assert self.decision is not None
        return self.incident, self.decision


@dataclass(slots=True, eq=False)
class Batch:
    """Webhooks decided together, in one transaction on ``connection``."""

    connection: Connection
    received: Sequence[Received]
    cases: list[Case] = field(default_factory=list)
    unrouted: list[tuple[int, Alert, datetime]] = field(default_factory=list)
    """Alerts no route takes (each counts as ``ignored``, ``unrouted``), with their webhook's
    index and receipt time."""
    current: dict[Key, IncidentRecord] = field(default_factory=dict)
    """The current incident of each key the cases name (locked by the lock stage)."""
    suppression: Suppression = field(default_factory=Suppression)
    """The flag and the silences in force at the batch's time."""
    touched: dict[int, IncidentRecord] = field(default_factory=dict)
    """Incidents the batch changed or created (by ``id()``), to be saved."""
    queued: list[list[Queued]] = field(default_factory=list)
    """The notifications decided, by webhook (a page lists one webhook's alerts)."""
    notifications: list[NewNotification] = field(default_factory=list)
    """The outbox rows they make (the save stage builds them, once the incidents have ids)."""
