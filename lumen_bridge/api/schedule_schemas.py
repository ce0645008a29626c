"""The JSON shape of a recurring silence's schedule (docs/silences.md), checked by
:class:`lumen_bridge.domain.schedule.Schedule`; durations as text."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lumen_bridge.config import parse_duration
from lumen_bridge.domain.schedule import Schedule, ScheduleError

__all__ = ["NextWindow", "ScheduleSpec", "WeeklySpec", "duration_text"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def duration_text(seconds: int) -> str:
    """Whole seconds as a duration such as ``7d``, ``1h30m``, ``5m`` or ``45s``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    parts = [(days, "d"), (hours, "h"), *zip(divmod(rest, 60), ("m", "s"), strict=True)]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


class WeeklySpec(_Strict):
    """Weekly windows: on each of ``days``, from ``start`` until ``end`` (local times; an
    end at or before the start ends the next day)."""

    days: list[str] = Field(description="mon, tue, wed, thu, fri, sat, sun", examples=[["sat"]])
    start: str = Field(description="Local time HH:MM", examples=["22:00"])
    end: str = Field(description="Local time HH:MM", examples=["02:00"])

    @classmethod
    def parse(cls, text: str) -> WeeklySpec:
        """Read ``sat,sun 22:00-02:00`` (the CLI's ``--weekly`` and the console's field);
        raises ``ValueError``."""
        days, _, times = text.strip().partition(" ")
        start, dash, end = times.strip().partition("-")
        if not days or not dash:
            raise ValueError(f"{text!r} is not weekly windows such as 'sat,sun 22:00-02:00'")
        return cls(days=days.lower().split(","), start=start.strip(), end=end.strip())

    def __str__(self) -> str:
        return f"{','.join(self.days)} {self.start}-{self.end}"


class ScheduleSpec(_Strict):
    """A recurring maintenance window: ``timezone`` with ``weekly``, or with ``cron`` and
    ``window``. The silence holds only inside a window, between its startsAt and endsAt."""

    timezone: str = Field(description="An IANA time zone", examples=["Europe/Berlin"])
    weekly: WeeklySpec | None = None
    cron: str | None = Field(default=None, description="5 fields", examples=["0 22 * * 6"])
    window: str | None = Field(
        default=None, description="How long each cron window lasts, e.g. 4h", examples=["4h"]
    )

    @model_validator(mode="after")
    def _valid(self) -> ScheduleSpec:
        try:
            self.schedule()
        except ScheduleError as exc:
            raise ValueError(f"schedule.{exc.field}: {exc}") from None
        return self

    def schedule(self) -> Schedule:
        """The schedule this describes (raises :class:`ScheduleError`)."""
        data = self.model_dump(exclude_none=True)
        if self.window is not None:
            try:
                data["window"] = int(parse_duration(self.window).total_seconds())
            except (ValueError, OverflowError) as exc:
                raise ScheduleError("window", f"{self.window!r}: {exc}") from None
        return Schedule.from_json(data)

    def __str__(self) -> str:
        """E.g. ``sat,sun 22:00-02:00 Europe/Berlin`` or ``0 22 * * 6 for 4h Europe/Berlin``."""
        when = str(self.weekly) if self.weekly is not None else f"{self.cron} for {self.window}"
        return f"{when} {self.timezone}"

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleSpec:
        """The JSON shape of ``schedule``."""
        data = schedule.to_json()
        if "window" in data:
            data["window"] = duration_text(data["window"])
        return cls.model_validate(data)


class NextWindow(BaseModel):
    """A window of a recurring silence."""

    model_config = ConfigDict(populate_by_name=True)

    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
