"""A recurring maintenance window: when a scheduled silence holds (docs/silences.md).

A schedule names a time zone and EITHER weekly windows (days, a start and an end local
time; an end at or before the start ends the next day) OR a 5-field cron expression whose
every match opens a window lasting ``window`` of elapsed time. Occurrences are wall-clock
times in the zone, so a window stays at 22:00 local across daylight-saving changes:

- a local time that does not exist (spring forward, 02:30 in Europe/Berlin) is moved
  forward by the length of the gap (03:30 summer time), as ``zoneinfo`` reads it;
- a local time that happens twice (fall back) is its first occurrence for a start and its
  second for an end, so a change never shortens a window.

Pure: the callers give the time; the silence's own ``startsAt``/``endsAt`` bound the
series (see :func:`occurrence`).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

__all__ = [
    "DAYS",
    "MAX_WINDOW",
    "Schedule",
    "ScheduleError",
    "Window",
    "occurrence",
    "open_matchers",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names, Monday first (``datetime.weekday()`` order)."""

MAX_WINDOW = timedelta(days=31)
"""The longest a cron window may last."""
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_CRON_MARGIN = timedelta(hours=3)
"""Cron matches are searched from this much around the moment asked about: more than any
daylight-saving shift, so a match moved by one is not missed."""
_CRON_SEARCH = 1000
"""Cron matches looked at, at most, to find the next window."""

Window = tuple[datetime, datetime]
"""One occurrence: when it opens and when it closes (UTC)."""


class ScheduleError(ValueError):
    """A schedule that cannot be used; ``field`` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _clock_time(field: str, text: object) -> time:
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise ScheduleError(field, f"{text!r} is not a local time such as 22:00 (HH:MM, 24 h)")
    return time(int(match[1]), int(match[2]))


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or name not in _zone_names():
        raise ScheduleError(
            "timezone", f"{name!r} is not a time zone: give an IANA name such as Europe/Berlin"
        )
    return ZoneInfo(name)


def _instant(local: datetime, zone: ZoneInfo, *, end: bool) -> datetime:
    """The UTC instant of the wall-clock time ``local`` (naive) in ``zone`` (module rules)."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if not end:
        return first
    # Repeated: fold=1 is the second, later occurrence. Skipped: fold=1 lands before fold=0.
    return max(first, local.replace(tzinfo=zone, fold=1).astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: weekly (``days``, ``start``, ``end``) or cron (``cron``, ``window``)."""

    timezone: str
    zone: ZoneInfo
    days: frozenset[int] = frozenset()
    start: time | None = None
    end: time | None = None
    cron: str | None = None
    window: timedelta | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schedule:
        """Parse the JSON shape (``timezone`` with ``weekly`` or with ``cron`` and
        ``window`` in seconds); raises :class:`ScheduleError` naming the field at fault."""
        zone = _zone(data.get("timezone"))
        weekly, cron = data.get("weekly"), data.get("cron")
        if (weekly is None) == (cron is None):
            raise ScheduleError("weekly", "give either weekly or cron (with window), not both")
        if weekly is not None:
            if data.get("window") is not None:
                raise ScheduleError("window", "window is for cron; weekly windows have an end")
            return cls._weekly(data["timezone"], zone, weekly)
        if not isinstance(cron, str) or len(cron.split()) != 5:
            raise ScheduleError("cron", f"{cron!r} is not a 5-field cron expression")
        try:
            CronSim(cron, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ScheduleError("cron", f"{cron!r} is not a valid cron expression: {exc}") from None
        seconds = data.get("window")
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            raise ScheduleError("window", "a cron schedule needs a positive window, e.g. 4h")
        if seconds > MAX_WINDOW.total_seconds():
            raise ScheduleError("window", "a window lasts 31 days at most")
        return cls(data["timezone"], zone, cron=cron, window=timedelta(seconds=seconds))

    @classmethod
    def _weekly(cls, timezone: str, zone: ZoneInfo, weekly: object) -> Schedule:
        if not isinstance(weekly, Mapping):
            raise ScheduleError("weekly", "weekly is an object with days, start and end")
        days = weekly.get("days")
        if not isinstance(days, list) or not days:
            raise ScheduleError("weekly.days", 'give at least one day, e.g. ["sat", "sun"]')
        unknown = [d for d in days if d not in DAYS]
        if unknown:
            raise ScheduleError("weekly.days", f"unknown days {unknown}: use {', '.join(DAYS)}")
        start = _clock_time("weekly.start", weekly.get("start"))
        end = _clock_time("weekly.end", weekly.get("end"))
        if start == end:
            raise ScheduleError("weekly.end", "the window is empty: end must differ from start")
        return cls(timezone, zone, frozenset(DAYS.index(d) for d in days), start, end)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape :meth:`from_json` reads (days in week order)."""
        if self.cron is not None and self.window is not None:
            window = int(self.window.total_seconds())
            return {"timezone": self.timezone, "cron": self.cron, "window": window}
        assert self.start is not None
        assert self.end is not None
        return {
            "timezone": self.timezone,
            "weekly": {
                "days": [DAYS[d] for d in sorted(self.days)],
                "start": self.start.strftime("%H:%M"),
                "end": self.end.strftime("%H:%M"),
            },
        }

    def open_at(self, now: datetime) -> bool:
        """Whether ``now`` is inside one of the windows."""
        return any(opens <= now for opens, _ in itertools.islice(self.windows(now), 1))

    def windows(self, after: datetime) -> Iterator[Window]:
        """Occurrences that close after ``after``, in order of opening (weekly: without end;
        cron: the one in force, of the latest match, then as many as the next 1000 give)."""
        try:
            if self.cron is not None:
                yield from self._cron_windows(after)
            else:
                yield from self._weekly_windows(after)
        except OverflowError:  # near the end of the year 9999: no more windows
            return

    def _weekly_windows(self, after: datetime) -> Iterator[Window]:
        assert self.start is not None
        assert self.end is not None
        # from the day before: its window may cross midnight
        day = after.astimezone(self.zone).date() - timedelta(days=1)
        while True:
            if day.weekday() in self.days:
                close_day = day + timedelta(days=1) if self.end <= self.start else day
                opens = _instant(datetime.combine(day, self.start), self.zone, end=False)
                closes = _instant(datetime.combine(close_day, self.end), self.zone, end=True)
                if closes > after and closes > opens:
                    yield opens, closes
            day += timedelta(days=1)

    def _cron_windows(self, after: datetime) -> Iterator[Window]:
        assert self.cron is not None
        assert self.window is not None
        window = self.window
        # Naive wall-clock matches, searched from a margin beyond ``after`` for those a gap
        # moved: first the latest that opened by ``after`` (if still open), then the later.
        local = after.astimezone(self.zone).replace(tzinfo=None)
        earlier = CronSim(self.cron, local + _CRON_MARGIN, reverse=True)
        for opens in self._instants(earlier):
            if opens <= after:
                if opens + window > after:
                    yield opens, opens + window
                break
        later = CronSim(self.cron, local - _CRON_MARGIN)
        yield from ((opens, opens + window) for opens in self._instants(later) if opens > after)

    def _instants(self, matches: Iterator[datetime]) -> Iterator[datetime]:
        """The instants the first matches open at (at most ``_CRON_SEARCH``)."""
        for local in itertools.islice(matches, _CRON_SEARCH):
            yield _instant(local, self.zone, end=False)


def occurrence(
    schedule: Schedule, starts_at: datetime, ends_at: datetime, now: datetime
) -> Window | None:
    """The window in force at ``now`` or, if none, the next one, clipped to the series'
    ``starts_at``/``ends_at``; None when no window is left before ``ends_at``."""
    for opens, closes in schedule.windows(max(now, starts_at)):
        opens, closes = max(opens, starts_at), min(closes, ends_at)
        if opens >= ends_at:
            return None
        if closes > opens:
            return opens, closes
    return None


def open_matchers(scheduled: Iterable[Sequence[Any]], now: datetime) -> list[list[dict[str, Any]]]:
    """The matchers of the scheduled silences (``[matchers, schedule]`` pairs, in force at
    ``now``) that are inside one of their windows at ``now``."""
    return [matchers for matchers, data in scheduled if Schedule.from_json(data).open_at(now)]
