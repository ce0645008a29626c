"""Recurring maintenance windows: occurrences in wall-clock time, across daylight saving."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lumen_bridge.domain.schedule import Schedule, ScheduleError, occurrence, open_matchers
from lumen_bridge.domain.silences import SilenceEnded, check_extension, resolved_end

BERLIN = "Europe/Berlin"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(days: list[str], start: str, end: str, zone: str = BERLIN) -> Schedule:
    return Schedule.from_json(
        {"timezone": zone, "weekly": {"days": days, "start": start, "end": end}}
    )


def cron(expression: str, seconds: int, zone: str = BERLIN) -> Schedule:
    return Schedule.from_json({"timezone": zone, "cron": expression, "window": seconds})


def first(schedule: Schedule, after: datetime, n: int = 1) -> list[tuple[datetime, datetime]]:
    return list(itertools.islice(schedule.windows(after), n))


def test_a_weekly_window_stays_at_its_local_time_across_both_changes() -> None:
    sunday_night = weekly(["sun"], "01:00", "04:00")
    # 2027-03-28: 02:00 CET jumps to 03:00 CEST; the window is 01:00 CET - 04:00 CEST: 2 h.
    assert first(sunday_night, utc(2027, 3, 27)) == [(utc(2027, 3, 28, 0), utc(2027, 3, 28, 2))]
    # 2027-10-31: 03:00 CEST falls back to 02:00 CET; 01:00 CEST - 04:00 CET: 4 h.
    assert first(sunday_night, utc(2027, 10, 30)) == [(utc(2027, 10, 30, 23), utc(2027, 10, 31, 3))]
    # the week after each change: 3 h again, at the new offset
    assert first(sunday_night, utc(2027, 3, 29)) == [(utc(2027, 4, 3, 23), utc(2027, 4, 4, 2))]
    assert first(sunday_night, utc(2027, 11, 1)) == [(utc(2027, 11, 7, 0), utc(2027, 11, 7, 3))]


def test_a_skipped_local_time_moves_forward_by_the_gap() -> None:
    # 02:30 does not exist on 2027-03-28 in Berlin: it is read as 03:30 CEST (01:30 UTC)
    window = weekly(["sun"], "02:30", "05:00")
    assert first(window, utc(2027, 3, 27)) == [(utc(2027, 3, 28, 1, 30), utc(2027, 3, 28, 3))]
    # a window inside the skipped hour does not happen that day
    gone = weekly(["sun"], "02:00", "03:00")
    assert first(gone, utc(2027, 3, 27)) == [(utc(2027, 4, 4, 0), utc(2027, 4, 4, 1))]


def test_a_repeated_local_time_starts_at_its_first_and_ends_at_its_second() -> None:
    # 02:30 happens at 00:30 UTC (CEST) and at 01:30 UTC (CET) on 2027-10-31
    starts = weekly(["sun"], "02:30", "05:00")
    assert first(starts, utc(2027, 10, 30)) == [(utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 4))]
    ends = weekly(["sat"], "22:00", "02:30")
    assert first(ends, utc(2027, 10, 30)) == [(utc(2027, 10, 30, 20), utc(2027, 10, 31, 1, 30))]


def test_weekly_windows_cross_midnight_and_come_in_order() -> None:
    weekend = weekly(["sat", "sun"], "22:00", "02:00", zone="UTC")
    assert first(weekend, utc(2026, 12, 11), 3) == [  # Friday
        (utc(2026, 12, 12, 22), utc(2026, 12, 13, 2)),
        (utc(2026, 12, 13, 22), utc(2026, 12, 14, 2)),
        (utc(2026, 12, 19, 22), utc(2026, 12, 20, 2)),
    ]
    # Monday 01:00 is inside Sunday's window, which started the day before
    assert weekend.open_at(utc(2026, 12, 14, 1))
    assert not weekend.open_at(utc(2026, 12, 14, 2))
    assert not weekend.open_at(utc(2026, 12, 12, 21, 59))


def test_cron_windows_are_wall_clock_matches_lasting_their_window() -> None:
    nightly = cron("30 2 * * *", 3600)
    assert first(nightly, utc(2027, 3, 27), 3) == [
        (utc(2027, 3, 27, 1, 30), utc(2027, 3, 27, 2, 30)),
        (utc(2027, 3, 28, 1, 30), utc(2027, 3, 28, 2, 30)),  # 02:30 skipped: 03:30 CEST
        (utc(2027, 3, 29, 0, 30), utc(2027, 3, 29, 1, 30)),
    ]
    assert first(nightly, utc(2027, 10, 30, 12), 2) == [
        (utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30)),  # repeated: the first 02:30
        (utc(2027, 11, 1, 1, 30), utc(2027, 11, 1, 2, 30)),
    ]
    saturday = cron("0 22 * * 6", 4 * 3600, zone="UTC")
    assert saturday.open_at(utc(2026, 12, 13, 1, 59))
    assert not saturday.open_at(utc(2026, 12, 13, 2))


def test_overlapping_cron_windows_hold_throughout() -> None:
    now = utc(2026, 12, 8, 12)
    every_minute = cron("* * * * *", 30 * 86400, zone="UTC")  # far more matches than searched
    assert every_minute.open_at(now)
    assert first(every_minute, now, 2) == [
        (now, now + timedelta(days=30)),
        (now + timedelta(minutes=1), now + timedelta(days=30, minutes=1)),
    ]


def test_the_series_bounds_clip_the_windows() -> None:
    weekend = weekly(["sat"], "22:00", "02:00", zone="UTC")
    start, end = utc(2026, 12, 12, 23), utc(2026, 12, 20)
    assert occurrence(weekend, start, end, utc(2026, 12, 12)) == (start, utc(2026, 12, 13, 2))
    assert occurrence(weekend, start, end, utc(2026, 12, 13, 3)) == (
        utc(2026, 12, 19, 22),
        utc(2026, 12, 20),
    )
    assert occurrence(weekend, start, utc(2026, 12, 19, 22), utc(2026, 12, 13, 3)) is None


def test_open_matchers_keeps_the_silences_inside_a_window() -> None:
    inside = [{"name": "job", "value": "backup"}]
    outside = [{"name": "job", "value": "batch"}]
    scheduled = [
        [inside, weekly(["sat"], "22:00", "02:00", zone="UTC").to_json()],
        [outside, weekly(["mon"], "22:00", "02:00", zone="UTC").to_json()],
    ]
    assert open_matchers(scheduled, utc(2026, 12, 12, 23)) == [inside]


def test_the_json_shape_round_trips() -> None:
    for schedule in (weekly(["sun", "sat"], "22:00", "02:00"), cron("0 22 * * 6", 14400)):
        assert Schedule.from_json(schedule.to_json()) == schedule
    assert weekly(["sun", "sat"], "22:00", "02:00").to_json()["weekly"]["days"] == ["sat", "sun"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"timezone": "Mars/Olympus", "cron": "0 1 * * *", "window": 60}, "timezone"),
        ({"timezone": BERLIN}, "weekly"),
        ({"timezone": BERLIN, "cron": "0 1 * *", "window": 60}, "cron"),
        ({"timezone": BERLIN, "cron": "61 1 * * *", "window": 60}, "cron"),
        ({"timezone": BERLIN, "cron": "0 1 * * *", "window": 0}, "window"),
        ({"timezone": BERLIN, "cron": "0 1 * * *"}, "window"),
        ({"timezone": BERLIN, "weekly": {"days": [], "start": "1:00"}}, "weekly.days"),
        ({"timezone": BERLIN, "weekly": {"days": ["sa"]}}, "weekly.days"),
        ({"timezone": BERLIN, "weekly": {"days": ["sat"], "start": "24:00"}}, "weekly.start"),
        (
            {"timezone": BERLIN, "weekly": {"days": ["sat"], "start": "01:00", "end": "01:00"}},
            "weekly.end",
        ),
    ],
)
def test_bad_schedules_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        Schedule.from_json(data)
    assert raised.value.field == field


def test_until_resolved_ends_only_after_everything_it_counted_resolved_for_the_grace() -> None:
    now, grace = utc(2026, 12, 8, 12), timedelta(minutes=5)
    assert not resolved_end([], grace, now)  # matched nothing yet: holds on
    assert not resolved_end([now - timedelta(hours=1), None], grace, now)  # one still fires
    assert not resolved_end([now - timedelta(minutes=4)], grace, now)
    assert resolved_end([now - timedelta(hours=1), now - timedelta(minutes=5)], grace, now)


def test_an_extension_must_be_later_and_within_the_maximum() -> None:
    now = utc(2026, 12, 8, 12)
    end = now + timedelta(hours=1)
    check_extension(end, end + timedelta(hours=1), now, None)
    with pytest.raises(SilenceEnded):
        check_extension(now, now + timedelta(hours=1), now, None)
    with pytest.raises(ValueError, match="after the current one"):
        check_extension(end, end, now, None)
    with pytest.raises(ValueError, match="at the latest"):
        check_extension(end, end + timedelta(days=8), now, now + timedelta(days=7))
