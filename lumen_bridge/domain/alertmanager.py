"""Alertmanager's webhook payload, version 4 (docs/contract.md §3), as pydantic models.

Tolerant where real Alertmanager is quirky (extra fields, ``endsAt`` of year 1 while
firing, nine fractional digits, empty ``generatorURL``, regex-quoted ``receiver``),
strict where a wrong value would corrupt an incident (status, labels, timestamps).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

AlertStatus = Literal["firing", "resolved"]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Alert(_Tolerant):
    """One alert of the payload."""

    status: AlertStatus
    labels: dict[LabelName, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: Annotated[str, StringConstraints(max_length=200)] = ""

    @field_validator("ends_at")
    @classmethod
    def _zero_is_none(cls, value: datetime | None) -> datetime | None:
        """Alertmanager sends ``0001-01-01T00:00:00Z`` for "not ended"."""
        return None if value is not None and value.year <= 1 else value

    @property
    def identity(self) -> str:
        """The fingerprint, or a stable hash of the sorted labels when there is none."""
        if self.fingerprint:
            return self.fingerprint
        digest = hashlib.sha256()
        for name in sorted(self.labels):
            digest.update(name.encode() + b"\xff" + self.labels[name].encode() + b"\xff")
        return digest.hexdigest()[:16]

    @property
    def alertname(self) -> str:
        """The ``alertname`` label, or ``""``."""
        return self.labels.get("alertname", "")


class WebhookPayload(_Tolerant):
    """Alertmanager's webhook body."""

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: str
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert]


class Rejected(NamedTuple):
    """A body that is not a webhook: what is wrong with it, as plain data (it crosses the
    writer process's pipe)."""

    problems: list[ErrorDetails]


def problems(exc: ValidationError) -> list[ErrorDetails]:
    """What ``exc`` found wrong, without the inputs (a body can be megabytes)."""
    return exc.errors(include_input=False, include_url=False, include_context=False)


def parse(body: bytes) -> WebhookPayload | Rejected:
    """``body`` as a webhook, or why it is not one."""
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        return Rejected(problems(exc))
