"""What a notification carries from the outbox to a notifier.

The pipeline decides a notification and stores, for each incident it carries, an
:class:`AlertSnapshot`: the alert as it was when decided (JSON in the outbox row, so a
retry an hour later describes the same thing). The delivery worker claims the row and
hands it to the receiver's notifier as a :class:`Delivery`. A row that is not about one
alert episode (a silence's reminder or digest) carries a :class:`Notice` instead of alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NotRequired, TypedDict

__all__ = ["AckNote", "AlertSnapshot", "Delivery", "Earlier", "Notice"]


class AckNote(TypedDict):
    """Who acknowledged the incident, when (ISO 8601, UTC), and what they said."""

    by: str
    at: str
    comment: str


class AlertSnapshot(TypedDict):
    """One incident as a notification describes it (stored as JSON, read back as is)."""

    incident_id: int | None
    fingerprint: str
    dedup_key: str
    action: str
    """``open``, ``update``, ``resolve`` or ``reopen``."""
    status: str
    """``firing`` or ``resolved``."""
    alertname: str
    severity: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    """ISO 8601, UTC."""
    ends_at: str | None
    occurrences: int
    generator_url: str
    alertmanager_url: str
    group_key: str
    acknowledged: NotRequired[AckNote]
    """Set on the ticket ``update`` an acknowledgement queues (docs/lifecycle.md)."""
    escalation_level: NotRequired[int]
    """Set on an escalation page: the route's step it is (1 for the first)."""


class Notice(TypedDict):
    """A message written whole when queued (the outbox row's ``notice``, JSON): an e-mail's
    subject, plain text and recipients."""

    subject: str
    text: str
    to: list[str]


@dataclass(frozen=True, slots=True)
class Earlier:
    """A notification sent before for the same incidents (an e-mail threads under it)."""

    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row as a notifier sees it."""

    id: int
    receiver: str
    action: str
    idempotency_key: str
    created_at: datetime
    attempt: int
    """The row's attempt number, 1 for the first (the lease's fencing token)."""
    alerts: list[AlertSnapshot]
    earlier: list[Earlier] = field(default_factory=list)
    notice: Notice | None = None
    """Set for a notice row (then ``alerts`` is empty): what to send instead of a page."""
