"""The audit log (docs/audit.md): every human action with the name of the admin token that
did it, read through ``GET /audit``, ``lumen-bridge audit`` and the console's page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Page, expect
from sqlalchemy import select

from lumen_bridge.cli import main
from lumen_bridge.config import ConfigError, load_settings
from lumen_bridge.store.models import Notification
from tests.conftest import ADMIN_TOKEN, ALERT_TOKEN, AppFactory, FakeClock, auth, fixture, post
from tests.helpers import rows
from tests.procs import serve
from tests.servers import TicketServer, eventually
from tests.test_silence_api import NOWHERE
from tests.test_silence_cli import _http
from tests.web_helpers import chromium, console_app, have_chromium, serving, shot, sign_in

NAMED = "alice=alice-token,bob=bob-token"
ALICE, BOB, UNNAMED = auth("alice-token"), auth("bob-token"), auth(ADMIN_TOKEN)
MATCHERS = [{"name": "alertname", "value": "LumenStageFailed", "isRegex": False}]


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(LUMEN_ADMIN_TOKENS=NAMED)


async def _json(client: TestClient[Any, Any], method: str, path: str, **kw: Any) -> Any:
    response = await client.request(method, path, **kw)
    assert response.status < 300, await response.text()
    return await response.json(content_type=None)


async def entries(client: TestClient[Any, Any], query: str = "") -> list[dict[str, Any]]:
    answer = await _json(client, "GET", f"/audit{query}", headers=UNNAMED)
    found: list[dict[str, Any]] = answer["entries"]
    return found


async def test_every_silence_and_flag_action_is_recorded_with_its_author(
    client: TestClient[Any, Any],
) -> None:
    body = {"matchers": MATCHERS, "duration": "2h", "createdBy": "kim", "comment": "upgrade"}
    silence = await _json(client, "POST", "/silence", json=body, headers=ALICE)
    update = {**body, "id": silence["id"], "endsAt": "2026-11-26T16:00:00Z"}
    update["startsAt"] = silence["startsAt"]
    del update["duration"]
    await _json(client, "POST", "/api/v2/silences", json=update, headers=BOB)
    extend = {"by": "1h"}
    await _json(client, "POST", f"/silence/{silence['id']}/extend", json=extend, headers=ALICE)
    await _json(client, "DELETE", f"/silence/{silence['id']}", headers=UNNAMED)
    await _json(client, "DELETE", f"/silence/{silence['id']}", headers=BOB)  # already over
    flag = await _json(client, "POST", "/silence", json={**body, "matchers": []}, headers=ALICE)
    await _json(client, "DELETE", f"/silence/{flag['id']}", headers=BOB)

    found = await entries(client)
    assert [(e["actor"], e["action"]) for e in found] == [
        ("bob", "flag.lower"),
        ("alice", "flag.raise"),
        ("admin", "silence.expire"),
        ("alice", "silence.extend"),
        ("bob", "silence.update"),
        ("alice", "silence.create"),
    ]
    created = found[-1]
    assert created["target"] == silence["id"]
    assert created["detail"]["matchers"] == 'alertname="LumenStageFailed"'
    assert created["detail"]["created_by"] == "kim" and created["detail"]["comment"] == "upgrade"
    assert found[-2]["detail"]["ends_at"].startswith("2026-11-26T16:00:00")
    assert found[-3]["detail"]["ends_at"].startswith("2026-11-26T17:00:00")

    assert len(await entries(client, "?actor=alice")) == 3
    assert [e["action"] for e in await entries(client, "?action=flag.raise")] == ["flag.raise"]
    assert len(await entries(client, f"?target={silence['id']}")) == 4
    first = await _json(client, "GET", "/audit?limit=2", headers=ALICE)
    rest = await _json(client, "GET", f"/audit?before={first['next_before']}", headers=ALICE)
    assert [e["id"] for e in first["entries"] + rest["entries"]] == [e["id"] for e in found]
    assert rest["next_before"] is None


@pytest.mark.parametrize(
    ("query", "token", "status"),
    [
        ("", auth("eve-token"), 401),
        ("?action=delete-everything", UNNAMED, 400),
        ("?limit=0", UNNAMED, 400),
        ("?limit=many", UNNAMED, 400),
        ("?before=-1", UNNAMED, 400),
    ],
)
async def test_bad_audit_queries_are_refused(
    client: TestClient[Any, Any], query: str, token: dict[str, str], status: int
) -> None:
    response = await client.get(f"/audit{query}", headers=token)
    assert response.status == status
    assert "error" in await response.json()


async def test_a_resend_is_recorded_with_its_author(make_client: AppFactory) -> None:
    tickets = await TicketServer(script=[(400, {})]).start()  # the first ticket dies
    try:
        client = await make_client(
            deliver=True, LUMEN_ADMIN_TOKENS=NAMED, LUMEN_TICKET_URL=tickets.url
        )
        await post(client, fixture("firing_ticket.json"))

        async def dead() -> bool:
            found = await rows(client, select(Notification.status))
            return [row.status for row in found] == ["dead"]

        await eventually(dead)
        answer = await _json(client, "POST", "/notifications/1/resend", headers=BOB)
        [entry] = await entries(client)
        assert (entry["actor"], entry["action"], entry["target"]) == ("bob", "resend", "1")
        assert entry["detail"]["new_id"] == answer["id"]
    finally:
        await tickets.close()


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ("alice", "write named admin tokens as name=token"),
        ("alice=s3cr3t-a,alice=s3cr3t-b", "two admin tokens carry one name"),
        ("alice=s3cr3t-a,bob=s3cr3t-a", "two admin tokens are the same"),
        ("admin=s3cr3t-a", "two admin tokens carry one name ('admin' is admin_token's)"),
        ("al ice=s3cr3t-a", "'al ice' cannot name a token"),
    ],
)
def test_named_tokens_that_cannot_work_are_config_errors(tokens: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, {"LUMEN_ADMIN_TOKENS": tokens, "LUMEN_ADMIN_TOKEN": "s3cr3t-x"})
    assert message in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_lumen_bridge_audit_prints_who_did_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {
        **NOWHERE,
        "LUMEN_ADMIN_TOKENS": NAMED,
        "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
        "LUMEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}",
    }
    with serve(tmp_path, env) as url:
        body = {"matchers": MATCHERS, "duration": "1h", "createdBy": "kim", "comment": "upgrade"}
        _http("POST", f"{url}/silence", body, token="alice-token")
        monkeypatch.setenv("LUMEN_BRIDGE_URL", url)
        monkeypatch.setenv("LUMEN_ADMIN_TOKEN", "bob-token")
        capsys.readouterr()
        assert main(["audit"]) == 0
        header, row = capsys.readouterr().out.splitlines()
        assert header.split() == ["WHEN", "WHO", "ACTION", "TARGET", "DETAIL"]
        assert " alice " in row and " silence.create " in row
        detail = row.partition(" silence.create ")[2].split(maxsplit=1)[1]
        assert re.fullmatch(
            r'alertname="LumenStageFailed" · upgrade · until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC',
            detail,
        ), detail
        assert main(["audit", "--actor", "bob"]) == 0
        assert capsys.readouterr().out == "no audit entries match\n"
        monkeypatch.setenv("LUMEN_ADMIN_TOKEN", "eve-token")
        assert main(["audit"]) == 1
        assert "refused the admin token" in capsys.readouterr().err


@pytest.fixture
async def browser_page() -> AsyncIterator[Page]:
    if not have_chromium():
        pytest.skip("the browser tests need Debian's chromium at /usr/bin/chromium")
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        yield await context.new_page()
        await context.close()


async def test_the_console_acts_in_the_signed_in_name_and_shows_the_log(
    tmp_path: Path, clock: FakeClock, browser_page: Page
) -> None:
    page = browser_page
    app = console_app(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}", clock, LUMEN_ADMIN_TOKENS=NAMED)
    async with serving(app) as bridge:
        await sign_in(page, bridge.url, token="bob-token")
        await expect(page.get_by_text("Signed in as bob")).to_be_visible()
        await page.get_by_role("link", name="Flag").click()
        await page.get_by_label("For how long").fill("30m")
        await page.get_by_role("button", name="Raise the flag").click()
        await page.get_by_role("link", name="Audit").click()
        row = page.get_by_role("row", name="flag.raise")
        await expect(row).to_contain_text("bob")
        await page.get_by_label("Who").fill("alice")
        await page.get_by_role("button", name="Filter").click()
        await expect(page.get_by_text("No actions recorded that match.")).to_be_visible()
        await page.goto(f"{bridge.url}/ui/audit")
        await shot(page, "audit")
