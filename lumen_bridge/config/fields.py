"""The field types the configuration is written in: durations, matchers, optional values."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    SecretStr,
)

from lumen_bridge.domain.matchers import Matcher, MatcherError, parse_matcher

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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


def _to_matcher(value: object) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if not isinstance(value, str):
        raise ValueError('a matcher is a string such as severity="page"')
    try:
        return parse_matcher(value)
    except MatcherError as exc:
        raise ValueError(str(exc)) from exc


MatcherField = Annotated[Matcher, PlainValidator(_to_matcher), PlainSerializer(str)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(blank_to_none)]
OptionalStr = Annotated[str | None, BeforeValidator(blank_to_none)]


class Model(BaseModel):
    """A configuration section: unknown keys are errors, values cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
