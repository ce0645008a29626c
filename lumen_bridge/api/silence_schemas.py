"""The silence API's JSON shapes (Alertmanager's) and their validation.

Like Alertmanager, a silence whose matchers all match the empty string is refused:
it would silence every alert that lacks a label, by accident, where the global flag
must be raised on purpose (an empty list). The bridge's own fields (``untilResolved``,
``grace``, ``schedule``, and ``nextWindow`` in answers) are left out of an answer when
unset, so a plain silence keeps Alertmanager's shape.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from lumen_bridge.api.schedule_schemas import NextWindow, ScheduleSpec, duration_text
from lumen_bridge.config import parse_duration
from lumen_bridge.domain.alertmanager import storable
from lumen_bridge.domain.matchers import Matcher, MatcherError, from_api

_LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""The longest an untilResolved silence lasts where no settings are given."""


def _storable(value: str) -> str:
    if not storable(value):
        raise ValueError("NUL characters and lone UTF-16 surrogates are not allowed")
    return value


Text = Annotated[str, AfterValidator(_storable)]


class InvalidSilence(ValueError):
    """A silence that cannot be created; ``details`` are ``{"loc", "msg"}`` like pydantic's."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(d["msg"] for d in details))
        self.details = details


class _Api(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class SilenceMatcher(_Api):
    """One matcher: ``isRegex`` for a fully anchored regex, ``isEqual: false`` to negate."""

    name: str = Field(pattern=_LABEL_NAME, max_length=200)
    value: Text
    is_regex: bool = Field(default=False, alias="isRegex")
    is_equal: bool = Field(default=True, alias="isEqual")

    @model_validator(mode="after")
    def _compiles(self) -> SilenceMatcher:
        try:
            self.matcher()
        except MatcherError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def matcher(self) -> Matcher:
        """The matcher this describes (raises :class:`MatcherError` for a bad regex)."""
        return from_api(self.model_dump(by_alias=True))

    @classmethod
    def of(cls, matcher: Matcher) -> SilenceMatcher:
        """The JSON shape of ``matcher``."""
        return cls(
            name=matcher.name,
            value=matcher.value,
            is_regex=matcher.is_regex,
            is_equal=matcher.is_equal,
        )


_GIVEN: list[JsonValue] = [
    {"required": [key], "properties": {key: {"type": "string"}}} for key in ("endsAt", "duration")
]


def _text(duration: timedelta) -> str:
    return duration_text(int(duration.total_seconds()))


class PostableSilence(_Api):
    """``POST /silence``: what to silence and for how long (``endsAt`` or ``duration``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [  # endsAt or duration, exactly one of them; or neither, until resolved
                *_GIVEN,
                {
                    "required": ["untilResolved"],
                    "properties": {"untilResolved": {"const": True}},
                    "not": {"anyOf": _GIVEN},
                },
            ]
        }
    )

    matchers: list[SilenceMatcher] = Field(
        description="All must match (AND); an empty list raises the global suppression flag."
    )
    starts_at: AwareDatetime | None = Field(
        default=None, alias="startsAt", description="Default now; a time in the past means now."
    )
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt")
    duration: str | None = Field(
        default=None,
        description="Instead of endsAt: how long from startsAt, e.g. 2h, 90m, 1h30m, 1d.",
        examples=["2h"],
        json_schema_extra={"pattern": r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"},
    )
    created_by: Text = Field(default="", alias="createdBy", max_length=200)
    comment: Text = ""
    until_resolved: bool = Field(
        default=False,
        alias="untilResolved",
        description="End by itself once every incident it matches has been resolved for "
        "`grace`; `endsAt`/`duration` are then its upper bound (default and maximum: "
        "silences.until_resolved_max).",
    )
    grace: str | None = Field(
        default=None,
        description="With untilResolved: how long after the last resolve (default "
        "silences.until_resolved_grace).",
        examples=["5m"],
    )
    schedule: ScheduleSpec | None = None

    @model_validator(mode="after")
    def _lifecycle(self) -> PostableSilence:
        if self.grace is not None and not self.until_resolved:
            raise ValueError("grace is only for an untilResolved silence")
        if self.until_resolved and self.schedule is not None:
            raise ValueError("a silence is either untilResolved or has a schedule, not both")
        if (self.until_resolved or self.schedule is not None) and not self.matchers:
            raise ValueError("untilResolved and schedule need matchers (not the global flag)")
        return self

    def grace_after(self, default: timedelta) -> int | None:
        """The grace in whole seconds for an untilResolved silence (``default`` when not
        given), None for any other."""
        if not self.until_resolved:
            return None
        return int((parse_duration(self.grace) if self.grace else default).total_seconds())

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, matchers: list[SilenceMatcher]) -> list[SilenceMatcher]:
        if matchers and all(m.matcher().matches({}) for m in matchers):
            raise ValueError(
                "at least one matcher must not match the empty string "
                "(no matchers at all is the global flag)"
            )
        return matchers

    @field_validator("duration", "grace")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value)
            except OverflowError:
                raise ValueError(f"duration {value!r} is too long") from None
        return value

    def window(self, now: datetime, until_resolved_max: timedelta) -> tuple[datetime, datetime]:
        """When the silence starts and ends if created at ``now`` (or :class:`InvalidSilence`);
        an untilResolved one lasts ``until_resolved_max`` at most, and by default."""
        try:
            starts_at, ends_at = self._window(now, until_resolved_max)
            return starts_at.astimezone(UTC), ends_at.astimezone(UTC)
        except OverflowError:
            msg = "the silence must end before the year 10000 (UTC)"
            raise InvalidSilence([{"loc": ["endsAt"], "msg": msg}]) from None

    def _window(self, now: datetime, until_resolved_max: timedelta) -> tuple[datetime, datetime]:
        starts_at = max(self.starts_at or now, now)
        if self.until_resolved:
            if self.grace is not None and parse_duration(self.grace) > until_resolved_max:
                msg = f"grace is at most {_text(until_resolved_max)} (silences.until_resolved_max)"
                raise InvalidSilence([{"loc": ["grace"], "msg": msg}])
            latest = starts_at + until_resolved_max
            if self.ends_at is None and self.duration is None:
                return starts_at, latest
            starts_at, ends_at = self._bounds(now, starts_at)
            if ends_at > latest:
                msg = (
                    f"an untilResolved silence lasts at most {_text(until_resolved_max)} "
                    f"(silences.until_resolved_max): it must end by {latest.isoformat()}"
                )
                raise InvalidSilence([{"loc": ["endsAt"], "msg": msg}])
            return starts_at, ends_at
        return self._bounds(now, starts_at)

    def _bounds(self, now: datetime, starts_at: datetime) -> tuple[datetime, datetime]:
        if self.ends_at is not None and self.duration is not None:
            raise InvalidSilence(
                [{"loc": ["duration"], "msg": "give endsAt or duration, not both"}]
            )
        if self.duration is not None:
            return starts_at, starts_at + parse_duration(self.duration)
        if self.ends_at is None:
            raise InvalidSilence([{"loc": ["endsAt"], "msg": "endsAt or duration is required"}])
        if self.starts_at is not None and self.ends_at <= self.starts_at:
            raise InvalidSilence([{"loc": ["endsAt"], "msg": "endsAt must be after startsAt"}])
        if self.ends_at <= now:
            raise InvalidSilence([{"loc": ["endsAt"], "msg": "endsAt must be in the future"}])
        return starts_at, self.ends_at


class SilenceStatus(BaseModel):
    """The state of a silence when it was read."""

    state: Literal["pending", "active", "expired"]


class GettableSilence(BaseModel):
    """A silence as the API returns it (Alertmanager's shape)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(json_schema_extra={"format": "uuid"})
    status: SilenceStatus
    matchers: list[SilenceMatcher]
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    updated_at: datetime = Field(alias="updatedAt")
    created_by: str = Field(alias="createdBy")
    comment: str
    until_resolved: bool | None = Field(default=None, alias="untilResolved")
    grace: str | None = None
    schedule: ScheduleSpec | None = None
    next_window: NextWindow | None = Field(
        default=None,
        alias="nextWindow",
        description="A recurring silence's window in force, or its next one (none left: null)",
    )


def describe(matchers: list[SilenceMatcher]) -> str:
    """Matchers in amtool's syntax, e.g. ``alertname="Foo", env!="dev"``; the flag when empty."""
    return ", ".join(str(m.matcher()) for m in matchers) or "(everything: the global flag)"
