"""The field types the configuration is written in: durations, matchers, URLs, e-mail
addresses, optional values."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    SecretStr,
)
from pydantic_core import core_schema

from lumen_bridge.domain.matchers import Matcher, MatcherError, parse_matcher

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+")


def parse_duration(value: object) -> timedelta:
    """Parse a Prometheus-style duration (``90s``, ``10m``, ``1h30m``) or seconds as a number."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and value and _DURATION.sub("", value) == "":
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION.findall(value))
    else:
        raise ValueError(
            f"invalid duration {value!r}: use a number of seconds or e.g. 90s, 10m, 2h"
        )
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and value.strip() == "" else value


def split_addresses(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _http_url(value: str) -> str:
    """A URL is used only if it is http(s) with a host; the value is never repeated in the
    message (a URL may carry credentials)."""
    try:
        parts = urlsplit(value)
        # .port raises ValueError when the port is not a number
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        usable = False
    if not usable or any(c.isspace() for c in value):
        raise ValueError("must be an http(s) URL with a host, like https://tickets.example.com/api")
    return value


def _is_address(text: str) -> bool:
    domain = text.rpartition("@")[2]
    return bool(_ADDRESS.fullmatch(text)) and not (
        domain.startswith(".") or domain.endswith(".") or ".." in domain
    )


def _recipient(value: str) -> str:
    if not _is_address(value):
        raise ValueError(
            f"{value!r} is not an e-mail address: write a bare address like oncall@example.com"
        )
    return value


def _sender(value: str) -> str:
    address = parseaddr(value)[1] if "<" in value else value
    if not _is_address(address):
        raise ValueError(
            f"{value!r} is not an e-mail address: write one like lumen@example.com "
            "or Lumen <lumen@example.com>"
        )
    return value


def _to_matcher(value: object) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError('a matcher is a string such as severity="page"')
    try:
        return parse_matcher(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from exc


class _MatcherSchema:
    """A matcher is read from its text and written as it: pydantic never looks inside
    :class:`Matcher` (its compiled pattern is not a pydantic type)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _to_matcher, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )


MatcherField = Annotated[Matcher, _MatcherSchema]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_to_none)]
OptionalStr = Annotated[str | None, BeforeValidator(blank_to_none)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An http or https URL with a host."""
OptionalHttpUrl = Annotated[HttpUrl | None, BeforeValidator(blank_to_none)]
Recipient = Annotated[str, AfterValidator(_recipient)]
"""A bare e-mail address (it is given to the relay as is)."""
Sender = Annotated[str, AfterValidator(_sender)]
"""An e-mail address, optionally with a display name: ``Lumen <lumen@example.com>``."""


class Model(BaseModel):
    """A configuration section: unknown keys are errors, values cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
