"""Silences that end well, on SQLite and PostgreSQL through HTTP: until resolved, recurring
maintenance windows across daylight-saving changes, and extend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect
from sqlalchemy import select, update

from lumen_bridge.api.keys import REPLAYER, RUNNER
from lumen_bridge.store import silence_ends
from lumen_bridge.store.models import AuditEntry, Silence
from tests.conftest import AppFactory, FakeClock, payload, post
from tests.helpers import incidents, item_actions, read, rows
from tests.test_silence_api import ADMIN, NOWHERE, add_silence, get_json
from tests.test_silence_cli import Cli, bridge
from tests.test_silence_cli import cli as cli_fixture
from tests.web_helpers import (
    chromium,
    console_app,
    have_chromium,
    serving,
    sign_in,
    unlabelled_controls,
)

WEEKLY_SUNDAY_NIGHT = {
    "timezone": "Europe/Berlin",
    "weekly": {"days": ["sun"], "start": "01:00", "end": "04:00"},
}


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(**NOWHERE)


async def replay(client: TestClient[Any, Any], clock: FakeClock) -> int:
    return await client.app[REPLAYER].replay_expired(clock.now)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def queued_for(client: TestClient[Any, Any], clock: FakeClock, fingerprint: str) -> str:
    """POST one firing alert at the clock's time; answer whether it was queued or held."""
    answer = await post(client, payload(fingerprint=fingerprint))
    assert answer["queued"] + answer["suppressed"] == 1, answer
    return "queued" if answer["queued"] else "held"


# --- until resolved ------------------------------------------------------------------------


async def test_until_resolved_ends_after_its_incidents_resolved_for_the_grace(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    silence = await add_silence(client, untilResolved=True, grace="5m", duration=None)
    assert (silence["untilResolved"], silence["grace"]) == (True, "5m")
    assert silence["endsAt"] == z(clock.now + timedelta(days=7))  # until_resolved_max

    clock.advance(hours=1)
    await replay(client, clock)  # matched nothing yet: made ahead of time, it holds on
    assert (await get_json(client, f"/silence/{silence['id']}"))["status"]["state"] == "active"

    assert await queued_for(client, clock, "a") == "held"
    assert await queued_for(client, clock, "b") == "held"
    await post(client, payload("resolved", fingerprint="a"))
    clock.advance(minutes=10)
    await replay(client, clock)  # b still fires
    assert (await get_json(client, f"/silence/{silence['id']}"))["status"]["state"] == "active"

    await post(client, payload("resolved", fingerprint="b"))
    clock.advance(minutes=4, seconds=59)
    await replay(client, clock)
    assert (await get_json(client, f"/silence/{silence['id']}"))["status"]["state"] == "active"
    clock.advance(seconds=1)
    await replay(client, clock)
    assert await item_actions(client) == []  # resolved while held: nothing to tell
    ended = await get_json(client, f"/silence/{silence['id']}")
    assert (ended["status"]["state"], ended["endsAt"]) == ("expired", z(clock.now))

    clock.advance(minutes=1)  # a second pass (or replica) changes nothing
    await replay(client, clock)
    assert (await get_json(client, f"/silence/{silence['id']}"))["endsAt"] == ended["endsAt"]
    assert [i.held for i in await incidents(client)] == [False, False]


async def test_until_resolved_refuses_an_end_past_its_maximum(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/silence",
        json={"matchers": [{"name": "alertname", "value": "X"}], "untilResolved": True,
              "duration": "8d"},
        headers=ADMIN,
    )  # fmt: skip
    assert response.status == 422
    assert "at most 7d" in (await response.json())["details"][0]["msg"]


# --- recurring windows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "closes_after", "moments"),
    [
        # 2027-03-28: the window is 01:00 CET (00:00 UTC) - 04:00 CEST (02:00 UTC); 01:01 UTC
        # is 03:01 CEST, after the jump
        (utc(2027, 3, 27, 23, 30), 150, [(0, "queued"), (31, "held"), (91, "held")]),
        # 2027-10-31: 01:00 CEST (23:00 UTC the day before) - 04:00 CET (03:00 UTC); 00:30 and
        # 01:30 UTC are both 02:30 local, the hour that happens twice
        (
            utc(2027, 10, 30, 22, 30),
            270,
            [(0, "queued"), (29, "queued"), (120, "held"), (180, "held"), (269, "held")],
        ),
    ],
)
async def test_a_weekly_window_holds_only_inside_it_across_a_dst_change(
    client: TestClient[Any, Any],
    clock: FakeClock,
    start: datetime,
    closes_after: int,
    moments: list[tuple[int, str]],
) -> None:
    clock.now = start
    silence = await add_silence(client, schedule=WEEKLY_SUNDAY_NIGHT, duration="2d")
    opens, closes = start + timedelta(minutes=30), start + timedelta(minutes=closes_after)
    assert silence["schedule"] == WEEKLY_SUNDAY_NIGHT
    assert silence["nextWindow"] == {"startsAt": z(opens), "endsAt": z(closes)}
    assert await read(client, lambda c: silence_ends.next_end(c, start)) == closes

    outcomes = []
    for minutes, _ in moments:
        clock.now = start + timedelta(minutes=minutes)
        outcomes.append(await queued_for(client, clock, f"f{minutes}"))
    assert outcomes == [outcome for _, outcome in moments]
    # the replay watcher may also run a pass: count what is queued, whoever queued it
    await replay(client, clock)
    assert len(await item_actions(client)) == outcomes.count("queued")  # the window holds
    clock.now = closes
    await replay(client, clock)
    assert len(await item_actions(client)) == len(moments)  # what it held, once it closed
    # Alertmanager's view (amtool, Grafana): silenced inside a window only
    alerts = await get_json(client, "/api/v2/alerts")
    assert alerts and {a["status"]["state"] for a in alerts} == {"active"}
    clock.now = opens + timedelta(minutes=1)
    alerts = await get_json(client, "/api/v2/alerts")
    assert {tuple(a["status"]["silencedBy"]) for a in alerts} == {(silence["id"],)}
    clock.now = closes
    assert await queued_for(client, clock, "after") == "queued"
    await replay(client, clock)
    assert len(await item_actions(client)) == len(moments) + 1


async def test_bad_schedules_are_422_naming_the_field(client: TestClient[Any, Any]) -> None:
    bad = [
        ({"timezone": "Mars/Olympus", "cron": "0 22 * * 6", "window": "4h"}, "timezone"),
        ({"timezone": "UTC", "cron": "0 22 * *", "window": "4h"}, "cron"),
        ({"timezone": "UTC", "weekly": {"days": [], "start": "22:00", "end": "02:00"}}, "days"),
        ({"timezone": "UTC", "weekly": {"days": ["sat"], "start": "22:00", "end": "22:00"}}, "end"),
        ({"timezone": "UTC", "cron": "0 22 * * 6", "window": "0s"}, "window"),
    ]
    for schedule, field in bad:
        response = await client.post(
            "/silence",
            json={"matchers": [{"name": "job", "value": "x"}], "duration": "1d",
                  "schedule": schedule},
            headers=ADMIN,
        )  # fmt: skip
        assert response.status == 422, schedule
        assert f"schedule.{'weekly.' if field in ('days', 'end') else ''}{field}" in (
            await response.text()
        )


async def test_amtool_sees_a_recurring_silence_with_its_series_times(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    silence = await add_silence(
        client, schedule={"timezone": "UTC", "cron": "0 22 * * 6", "window": "4h"}, duration="2w"
    )
    [listed] = await get_json(client, "/api/v2/silences")
    assert (listed["id"], listed["startsAt"], listed["endsAt"]) == (
        silence["id"], z(clock.now), z(clock.now + timedelta(weeks=2))
    )  # fmt: skip
    assert listed["schedule"]["window"] == "4h"


# --- extend --------------------------------------------------------------------------------


async def test_extend_moves_the_end_and_resets_the_reminder_and_digest(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    silence = await add_silence(client, duration="1h")
    sid = silence["id"]
    await client.app[RUNNER].write(
        lambda c: c.execute(update(Silence).where(Silence.id == sid).values(reminded_at=clock.now))
    )
    response = await client.post(f"/silence/{sid}/extend", json={"by": "2h"}, headers=ADMIN)
    assert response.status == 200, await response.text()
    assert (await response.json())["endsAt"] == z(clock.now + timedelta(hours=3))
    until = clock.now + timedelta(hours=5)
    response = await client.post(f"/silence/{sid}/extend", json={"endsAt": z(until)}, headers=ADMIN)
    assert (await response.json())["endsAt"] == z(until)
    [row] = await rows(client, select(Silence.reminded_at, Silence.digested_at))
    assert tuple(row) == (None, None)
    audit = await rows(client, select(AuditEntry.action).where(AuditEntry.target == sid))
    assert [a.action for a in audit] == ["silence.create", "silence.extend", "silence.extend"]

    answers = {
        (f"/silence/{sid}/extend", "x"): 422,
        (f"/silence/{sid}/extend", "shorter"): 422,
        (f"/silence/{sid}/extend", "both"): 422,
        ("/silence/00000000-0000-0000-0000-000000000000/extend", "2h"): 404,
    }
    bodies = {"x": {"by": "x"}, "shorter": {"endsAt": z(clock.now)}, "2h": {"by": "2h"},
              "both": {"by": "2h", "endsAt": z(until)}}  # fmt: skip
    for (path, body), status in answers.items():
        response = await client.post(path, json=bodies[body], headers=ADMIN)
        assert response.status == status, (path, body, await response.text())
    await client.delete(f"/silence/{sid}", headers=ADMIN)
    response = await client.post(f"/silence/{sid}/extend", json={"by": "2h"}, headers=ADMIN)
    assert response.status == 409


async def test_an_until_resolved_silence_extends_up_to_its_maximum_again(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    silence = await add_silence(client, untilResolved=True, duration=None)
    clock.advance(days=2)
    path = f"/silence/{silence['id']}/extend"
    response = await client.post(path, json={"by": "2d"}, headers=ADMIN)
    assert (await response.json())["endsAt"] == z(clock.now + timedelta(days=7))
    response = await client.post(path, json={"by": "1m"}, headers=ADMIN)
    assert response.status == 422
    assert "at the latest" in (await response.json())["error"]


# --- the command line ----------------------------------------------------------------------


cli = cli_fixture  # the fixture of test_silence_cli, by its name here


def test_the_cli_adds_recurring_and_until_resolved_silences_and_extends(
    tmp_path: Path, cli: Cli
) -> None:
    with bridge(tmp_path) as url:
        weekly = ["--weekly", "sat,sun 22:00-02:00", "--timezone", "Europe/Berlin"]
        code, weekend, err = cli("add", "job=backup", *weekly, "--duration", "12w", url=url)
        assert code == 0, err
        cron = ["--cron", "0 22 * * 6", "--window", "4h", "--timezone", "UTC"]
        code, _, err = cli("add", "job=batch", *cron, url=url)
        assert code == 0, err
        code, _, err = cli("add", "job=disk", "--until-resolved", "--grace", "10m", url=url)
        assert code == 0, err

        code, out, _ = cli("query", url=url)
        assert code == 0
        assert "in windows sat,sun 22:00-02:00 Europe/Berlin (next closes " in out
        assert "in windows 0 22 * * 6 for 4h UTC" in out
        assert "or 10m after its incidents resolved" in out

        code, out, err = cli("extend", weekend.strip()[:8], "--by", "2h", url=url)
        assert (code, err) == (0, "")
        assert out.startswith(f"{weekend.strip()} now ends at ")

        assert cli("add", "job=x", "--weekly", "sat", "--timezone", "UTC", url=url)[0] == 2
        assert cli("add", "job=x", "--weekly", "sat 01:00-02:00", url=url)[0] == 2
        code, _, err = cli("add", "job=x", "--cron", "0 22 * *", "--window", "1h",
                           "--timezone", "UTC", url=url)  # fmt: skip
        assert code == 1
        assert "schedule.cron" in err


# --- the console ---------------------------------------------------------------------------


async def test_the_console_creates_recurring_and_until_resolved_silences(
    tmp_path: Path, clock: FakeClock
) -> None:
    if not have_chromium():
        pytest.skip("the browser tests need Debian's chromium at /usr/bin/chromium")
    app = console_app(f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}", clock, **NOWHERE)
    async with serving(app) as served, chromium() as browser:
        page = await (await browser.new_context(java_script_enabled=False)).new_page()
        await sign_in(page, served.url)
        await page.goto(f"{served.url}/ui/silences")
        assert await unlabelled_controls(page) == []
        await page.get_by_label("Matchers (one per line, amtool syntax)").fill("job=backup")
        await page.get_by_label("Duration").fill("12w")
        await page.get_by_label("Time zone").fill("Europe/Berlin")
        await page.get_by_label("Weekly").fill("sat,sun 22:00-22:00")
        await page.get_by_role("button", name="Create silence").click()
        await expect(page.get_by_role("alert")).to_contain_text("schedule.weekly.end")

        await page.get_by_label("Weekly").fill("sat,sun 22:00-02:00")
        await page.get_by_role("button", name="Create silence").click()
        row = page.locator("tr", has_text='job="backup"')
        await expect(row).to_contain_text("sat,sun 22:00-02:00 Europe/Berlin")
        await expect(row).to_contain_text("next: 2026-11-28 21:00:00 UTC")

        await page.get_by_label("Matchers (one per line, amtool syntax)").fill("job=disk")
        await page.get_by_label("Duration").fill("")
        await page.get_by_label("End once every incident it holds has resolved").check()
        await page.get_by_role("button", name="Create silence").click()
        disk = page.locator("tr", has_text='job="disk"')
        await expect(disk).to_contain_text("when its incidents have resolved for 5m")
        await disk.get_by_label("Extend by").fill("8d")
        await disk.get_by_role("button", name="Extend").click()
        await expect(page.get_by_role("main")).to_contain_text("at the latest")
