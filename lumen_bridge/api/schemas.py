"""Pydantic models of what the API answers; ``/openapi.json`` is built from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorDetail(_Out):
    """One validation problem."""

    loc: list[str | int]
    msg: str


class ErrorBody(_Out):
    """Every error answer."""

    error: str
    details: list[ErrorDetail] | None = None


class WebhookResult(_Out):
    """The 200 answer of ``POST /webhook``: each alert counts once per route it matched."""

    alerts: int
    queued: int
    deduplicated: int
    suppressed: int
    ignored: int


class IncidentOut(_Out):
    """A deduplicated incident: one alert identity on one receiver."""

    id: int
    dedup_key: str
    receiver: str
    fingerprint: str
    current: bool
    status: Literal["firing", "resolved"]
    alertname: str
    severity: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    occurrences: int
    last_notified_at: datetime | None
    notified: bool
    held: bool
    am_state: Literal["active", "silenced", "inhibited"] | None = None
    """What Alertmanager last said of the alert (docs/reconcile.md); null until reconcile has
    seen it."""
    am_absent_since: datetime | None = None
    """Since when no Alertmanager peer has had the alert; null while one has it."""
    acknowledged: bool = False
    """Its current firing episode is acknowledged (docs/lifecycle.md)."""
    acked_at: datetime | None = None
    acked_by: str | None = None
    escalation_level: int = 0
    """How many escalation steps this episode has paged."""
    escalated_at: datetime | None = None


class IncidentList(_Out):
    """``GET /incidents``: most recent activity first."""

    incidents: list[IncidentOut]


class AttemptOut(_Out):
    """One delivery attempt."""

    attempted_at: datetime
    result: str
    status_code: int | None
    error: str | None


class TimelineEntry(_Out):
    """An alert received, a notification and its delivery attempts, or an ack."""

    at: datetime
    type: Literal["alert", "notification", "ack"]
    status: str
    detail: dict[str, Any]
    attempts: list[AttemptOut] = []


class IncidentDetail(IncidentOut):
    """``GET /incidents/{id}``: the incident with its timeline, oldest first."""

    timeline: list[TimelineEntry]
