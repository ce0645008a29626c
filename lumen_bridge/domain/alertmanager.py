"""Alertmanager's webhook payload, version 4 (docs/contract.md §3), as pydantic models.

Tolerant where real Alertmanager is quirky (extra fields, ``endsAt`` of year 1 while
firing, nine fractional digits, empty ``generatorURL``, regex-quoted ``receiver``),
strict where a wrong value would corrupt an incident or could not be stored (status,
labels, timestamps that exist in UTC, text without NUL characters or lone surrogates).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NamedTuple

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
# Times are stored in UTC: one that leaves the calendar there (year 1 at +14:00, year 9999
# at -05:00) is refused here, checked without converting it (which would overflow).
_FIRST = datetime(1, 1, 1, tzinfo=UTC)
_LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Alert(_Tolerant):
    """One alert of the payload."""

    status: AlertStatus
    labels: dict[LabelName, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    starts_at: AwareDatetime = Field(alias="startsAt", ge=_FIRST, le=_LAST)
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt", le=_LAST)
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


# In JSON text a NUL or a UTF-16 surrogate can only be a ``\u`` escape: bodies without one
# (nearly all) skip the search for the field that holds it.
_ESCAPE = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CANNOT_STORE = "text with a NUL character or a lone UTF-16 surrogate cannot be stored"


def storable(text: str) -> bool:
    """Whether both databases can store ``text``: it holds no NUL and no lone surrogate."""
    return _UNSTORABLE.search(text) is None


def _keys(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        key for name, field in model.model_fields.items() for key in (name, field.alias or name)
    )


_PAYLOAD_KEYS = _keys(WebhookPayload)
_ALERT_KEYS = _keys(Alert)


def _shown(text: str) -> str:
    """``text`` with its unstorable characters escaped, fit to name a label in an answer."""
    return _UNSTORABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def _check(
    document: dict[str, Any], loc: tuple[int | str, ...], keys: frozenset[str]
) -> list[ErrorDetails]:
    """Every known field of ``document`` whose text (a string, or a map's names and values)
    cannot be stored."""
    found: list[ErrorDetails] = []

    def check(text: str, where: tuple[int | str, ...]) -> None:
        if not storable(text):
            found.append(ErrorDetails(type="value_error", loc=where, msg=_CANNOT_STORE, input=None))

    for key, value in document.items():
        if key not in keys:
            continue
        if isinstance(value, str):
            check(value, (*loc, key))
        elif isinstance(value, dict):
            for name, text in value.items():
                check(name, (*loc, key, _shown(name), "[key]"))
                if isinstance(text, str):
                    check(text, (*loc, key, _shown(name)))
    return found


def _unstorable(body: bytes) -> list[ErrorDetails]:
    """Each field of the webhook ``body`` holding a NUL or a lone surrogate, which neither
    database can store; none for a body that is not a JSON object (validation says why)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    found = _check(document, (), _PAYLOAD_KEYS)
    alerts = document.get("alerts")
    for index, alert in enumerate(alerts if isinstance(alerts, list) else []):
        if isinstance(alert, dict):
            found += _check(alert, ("alerts", index), _ALERT_KEYS)
    return found


def parse(body: bytes) -> WebhookPayload | Rejected:
    """``body`` as a webhook, or why it is not one."""
    if _ESCAPE.search(body) and (found := _unstorable(body)):
        return Rejected(found)
    try:
        # strict: a JSON number is no time and no count (Alertmanager sends neither as one)
        return WebhookPayload.model_validate_json(body, strict=True)
    except ValidationError as exc:
        return Rejected(problems(exc))
