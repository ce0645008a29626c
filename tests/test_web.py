"""The web console in a real browser (Debian's chromium, driven by Playwright): sign-in,
an incident's timeline after a real webhook, silences with their preview, the flag,
explain, re-sending a dead notification, CSRF, labels and keyboard use."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from lumen_bridge.api.keys import RUNNER
from lumen_bridge.store import console_reads
from lumen_bridge.store.console_reads import IncidentQuery
from lumen_bridge.store.models import Notification
from lumen_bridge.store.resend import NotDead, resend
from lumen_bridge.web.sessions import COOKIE, MAX_SIGNING_IN, Session, Sessions
from tests.conftest import ADMIN_TOKEN, AppFactory, FakeClock, auth, fixture, payload, post
from tests.helpers import rows
from tests.servers import TicketServer, eventually
from tests.web_helpers import (
    Bridge,
    chromium,
    console_app,
    have_chromium,
    serving,
    shot,
    sign_in,
    unlabelled_controls,
)

ADMIN = auth(ADMIN_TOKEN)
ALERT = "LumenIntegrityMismatch"
SMTP_NOWHERE = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "9"}  # a closed port: e-mails retry


@pytest.fixture
async def ticket() -> AsyncIterator[TicketServer]:
    """A ticket system that refuses the first ticket for good (400), then takes them all."""
    server = await TicketServer(script=[(400, {})]).start()
    yield server
    await server.close()


@pytest.fixture
async def bridge(tmp_path: Path, clock: FakeClock, ticket: TicketServer) -> AsyncIterator[Bridge]:
    app = console_app(
        f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}",
        clock,
        LUMEN_TICKET_URL=ticket.url,
        **SMTP_NOWHERE,
    )
    async with serving(app) as served:
        yield served


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not have_chromium():
        pytest.skip("the browser tests need Debian's chromium at /usr/bin/chromium")
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 800})
    yield await context.new_page()
    await context.close()


async def statuses(bridge: Bridge) -> list[tuple[int, str, str]]:
    """(id, status, Idempotency-Key) of every outbox row."""
    found = await rows(
        bridge.client,
        select(Notification.id, Notification.status, Notification.idempotency_key).order_by(
            Notification.id
        ),
    )
    return [(row.id, row.status, row.idempotency_key) for row in found]


async def dead_ticket(bridge: Bridge) -> None:
    """Post the real ticket capture; wait until its notification is dead (the 400)."""
    await post(bridge.client, fixture("firing_ticket.json"))

    async def dead() -> bool:
        return [s for _, s, _ in await statuses(bridge)] == ["dead"]

    await eventually(dead)


async def test_sign_in_refuses_a_wrong_token_and_works_with_the_keyboard(
    bridge: Bridge, page: Page
) -> None:
    await page.goto(f"{bridge.url}/ui/silences")
    await expect(page).to_have_url(f"{bridge.url}/ui/sign-in?next=/ui/silences")
    token = page.get_by_label("Admin token")
    await expect(token).to_be_focused()
    await page.keyboard.type("not-the-token")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_have_text("That is not an admin token.")
    await shot(page, "sign-in")

    # Tab from the top of the page reaches the field, Enter sends the form
    await page.get_by_role("heading", name="Sign in").click()
    await page.keyboard.press("Tab")
    await expect(token).to_be_focused()
    await page.keyboard.type(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{bridge.url}/ui/silences")
    [cookie] = await page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert ADMIN_TOKEN not in cookie["value"]

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{bridge.url}/ui/sign-in")
    await page.goto(f"{bridge.url}/")
    await expect(page.get_by_label("Admin token")).to_be_visible()


async def test_a_session_ends_after_eight_hours(
    bridge: Bridge, page: Page, clock: FakeClock
) -> None:
    await sign_in(page, bridge.url)
    clock.advance(hours=7, minutes=59)
    await page.goto(f"{bridge.url}/ui/flag")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Suppression flag")
    clock.advance(minutes=1)
    await page.goto(f"{bridge.url}/ui/flag")
    await expect(page).to_have_url(f"{bridge.url}/ui/sign-in?next=/ui/flag")


async def test_an_incident_and_its_timeline_after_a_real_webhook(
    bridge: Bridge, page: Page
) -> None:
    await dead_ticket(bridge)
    await sign_in(page, bridge.url)
    row = page.get_by_role("row", name=ALERT)
    await expect(row).to_contain_text("firing")
    await expect(row).to_contain_text("PDF stage integrity mismatch on remote-b")
    assert await unlabelled_controls(page) == []

    await page.get_by_label("Status").select_option("resolved")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No incidents match these filters.")).to_be_visible()
    await page.get_by_label("Status").select_option("firing")
    await page.get_by_label("Text").fill("remote-b")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_role("link", name=ALERT).click()

    await expect(page.get_by_role("heading", level=1)).to_contain_text(ALERT)
    timeline = page.locator(".timeline")
    await expect(timeline.locator("li.alert")).to_contain_text("Alert received: firing")
    await expect(timeline.locator("li.alert")).to_contain_text("queued")
    notification = timeline.locator("li.notification")
    await expect(notification).to_contain_text("open to backlog (ticket)")
    await expect(notification).to_contain_text("dead")
    await expect(notification.locator(".attempts")).to_contain_text("HTTP 400")
    runbook = page.get_by_role("link", name="Runbook")
    assert await runbook.get_attribute("href") == "https://runbooks.example/lumen/pdf"
    await expect(page.get_by_role("link", name="Alertmanager")).to_have_attribute(
        "href", "http://vm:9093"
    )
    await shot(page, "incident")


def alert(alertname: str, severity: str, summary: str, **labels: str) -> dict[str, Any]:
    """A webhook of one firing alert, built from the real page capture."""
    body = payload(fingerprint=alertname, labels={"alertname": alertname, "severity": severity})
    body["alerts"][0]["labels"] |= labels
    body["alerts"][0]["annotations"] = {"summary": summary}
    return body


async def test_incidents_are_listed_firing_first_filtered_and_paged(
    bridge: Bridge, page: Page, clock: FakeClock
) -> None:
    await post(bridge.client, alert("LumenSLOBurnFast", "ticket", "Error budget burning 14x"))
    await post(bridge.client, alert("LumenStageFailed", "page", "Stage pdf failed", stage="pdf"))
    clock.advance(minutes=3)
    await post(bridge.client, alert("LumenPipelineStalled", "page", "No run for 26 hours"))
    resolved = alert("LumenStageFailed", "page", "Stage pdf failed", stage="pdf")
    resolved["alerts"][0] |= {"status": "resolved", "endsAt": "2026-11-26T12:02:00Z"}
    clock.advance(minutes=2)
    await post(bridge.client, resolved)
    await sign_in(page, bridge.url)
    names = page.locator("tbody tr td:nth-child(3)")
    # firing first, most recent activity first; then the resolved one
    await expect(names).to_have_text(
        ["LumenPipelineStalled", "LumenSLOBurnFast", "LumenStageFailed"]
    )
    await shot(page, "incidents", docs=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await shot(page, "incidents-phone")
    await page.set_viewport_size({"width": 1200, "height": 800})

    await page.get_by_label("Severity").select_option("page")
    await page.get_by_role("button", name="Filter").click()
    await expect(names).to_have_text(["LumenPipelineStalled", "LumenStageFailed"])

    await post(bridge.client, payload(fingerprint="storm", labels={"job": "storm"}, n=51))
    await page.goto(f"{bridge.url}/?q=storm")
    await expect(page.locator("tbody tr")).to_have_count(50)
    await page.get_by_role("link", name="Older →").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.get_by_text("Page 2")).to_be_visible()
    await expect(page.get_by_role("link", name="Older →")).to_have_count(0)
    await page.get_by_role("link", name="← Newer").click()
    await expect(page).to_have_url(f"{bridge.url}/?q=storm&page=1")


async def test_a_dead_notification_is_sent_again(
    bridge: Bridge, page: Page, ticket: TicketServer
) -> None:
    await dead_ticket(bridge)
    await sign_in(page, bridge.url)
    await page.get_by_role("link", name="Deliveries").click()
    backlog = page.get_by_role("row", name="backlog")
    await expect(backlog.get_by_role("cell").nth(3)).to_have_text("1")  # dead
    await expect(page.locator(".dead")).to_contain_text("Last error:")
    await shot(page, "deliveries")

    await page.get_by_role("button", name="Send notification #1 again").click()
    await expect(page.get_by_role("status")).to_have_text("Queued again as notification #2.")

    async def delivered() -> bool:
        return [s for _, s, _ in await statuses(bridge)] == ["dead", "delivered"]

    await eventually(delivered)
    [(_, _, first), (_, _, second)] = await statuses(bridge)
    assert second == f"{first}-resend-1"
    assert [r.headers["Idempotency-Key"] for r in ticket.requests] == [first, second]


async def test_a_silence_previewed_created_extended_and_expired_without_javascript(
    bridge: Bridge, browser: Browser
) -> None:
    await post(bridge.client, fixture("firing_ticket.json"))
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await sign_in(page, bridge.url)
    await page.get_by_role("link", name="Silences").click()

    matchers = page.get_by_label("Matchers (one per line, amtool syntax)")
    await matchers.fill('stage=~"pdf|upload"\nnot a matcher')
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_role("alert")).to_contain_text("bad matcher 'not a matcher'")

    await matchers.fill(f'alertname="{ALERT}"\nstage=~"pdf|upload"')
    await page.get_by_label("Duration").fill("2h")
    await page.get_by_label("Comment").fill("re-run of the pdf stage")
    await page.get_by_label("Created by").fill("kim")
    await page.get_by_role("button", name="Preview").click()
    preview = page.locator(".preview")
    await expect(preview).to_contain_text("1 firing incident would be held")
    await expect(preview).to_contain_text(ALERT)
    await expect(matchers).to_have_value(f'alertname="{ALERT}"\nstage=~"pdf|upload"')
    await shot(page, "silence-preview")

    await page.get_by_role("button", name="Create silence").click()
    row = page.get_by_role("row", name="re-run of the pdf stage")
    await expect(row).to_contain_text('stage=~"pdf|upload"')  # the page once it is stored
    response = await bridge.client.get("/silence", headers=ADMIN)
    [silence] = await response.json()
    assert silence["comment"] == "re-run of the pdf stage" and silence["createdBy"] == "kim"
    assert silence["endsAt"].startswith("2026-11-26T14:00:00")
    await shot(page, "silences")

    await row.get_by_label("Extend by").fill("30m")
    await row.get_by_role("button", name="Extend").click()
    await expect(row).to_contain_text("2026-11-26 14:30:00 UTC")
    response = await bridge.client.get(f"/silence/{silence['id']}", headers=ADMIN)
    assert (await response.json())["endsAt"].startswith("2026-11-26T14:30:00")

    await page.get_by_role("button", name=f"Expire silence {silence['id']}").click()
    await expect(page.get_by_role("button", name="Expire")).to_have_count(0)
    await expect(page.get_by_role("row", name="re-run of the pdf stage")).to_have_count(1)
    response = await bridge.client.get(f"/silence/{silence['id']}", headers=ADMIN)
    assert (await response.json())["status"]["state"] == "expired"
    await context.close()


async def test_the_flag_is_raised_for_a_while_and_lowered(bridge: Bridge, page: Page) -> None:
    await sign_in(page, bridge.url)
    await page.get_by_role("link", name="Flag").click()
    await expect(page.get_by_role("status")).to_contain_text("The flag is lowered")
    assert await unlabelled_controls(page) == []
    await page.get_by_label("For how long").fill("30m")
    await page.get_by_label("Comment").fill("maintenance")
    await page.get_by_role("button", name="Raise the flag").click()
    await expect(page.get_by_role("status")).to_contain_text("The flag is raised")
    await shot(page, "flag")
    response = await bridge.client.get("/silence", headers=ADMIN)
    [flag] = await response.json()
    assert flag["matchers"] == [] and flag["endsAt"].startswith("2026-11-26T12:30:00")

    answer = await post(bridge.client, fixture("firing_ticket.json"))
    assert answer["suppressed"] == 1

    await page.get_by_role("button", name="Lower the flag now").click()
    await expect(page.get_by_role("status")).to_contain_text("The flag is lowered")
    response = await bridge.client.get("/silence", headers=ADMIN)
    assert await response.json() == []


async def test_explain_shows_what_a_post_would_do(bridge: Bridge, page: Page) -> None:
    await sign_in(page, bridge.url)
    await page.get_by_role("link", name="Explain").click()
    body = page.get_by_label("Webhook body (JSON)")
    await body.fill('{"version": "4"}')
    await page.get_by_role("button", name="Explain").click()
    await expect(page.get_by_role("alert")).to_contain_text("This is not a valid webhook")

    await body.fill(json.dumps(fixture("firing_ticket.json"), indent=2))
    await page.get_by_role("button", name="Explain").click()
    answer = page.locator(".answer")
    await expect(answer).to_contain_text("queued")
    article = page.locator(".explained")
    await expect(article).to_contain_text("Routes tried")
    await expect(article).to_contain_text("To backlog: queued")
    await expect(article).to_contain_text("Idempotency-Key lumen-1-open-1")
    shown = page.locator(".rendered")  # the ticket as the ticket system would get it
    await expect(shown).to_contain_text("What backlog would get (ticket, open)")
    await expect(shown).to_contain_text('"dedup_key": "lumen-1"')
    await shot(page, "explain")
    assert await statuses(bridge) == []  # nothing stored


async def test_a_post_without_the_csrf_token_is_refused(bridge: Bridge, page: Page) -> None:
    await sign_in(page, bridge.url)
    refused = await page.request.post(f"{bridge.url}/ui/flag", form={"duration": "1h"})
    assert refused.status == 403
    assert "CSRF token is missing or wrong" in await refused.text()
    forged = await page.request.post(
        f"{bridge.url}/ui/flag", form={"duration": "1h", "csrf": "guessed"}
    )
    assert forged.status == 403
    outside = await bridge.client.post("/ui/flag", data={"duration": "1h"})
    assert outside.status == 403
    response = await bridge.client.get("/silence", headers=ADMIN)
    assert await response.json() == []


async def test_without_an_admin_token_no_sign_in_is_needed(
    tmp_path: Path, clock: FakeClock
) -> None:
    app = console_app(f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}", clock, LUMEN_ADMIN_TOKEN="")
    async with serving(app) as bridge:
        response = await bridge.client.get("/")
        assert response.status == 200
        text = await response.text()
        assert "<h1>Incidents</h1>" in text and "Sign out" not in text
        assert "lumen_session" in response.cookies
        css = await bridge.client.get("/ui/static/console.css")
        assert css.status == 200 and css.content_type == "text/css"
        signin = await bridge.client.get("/ui/sign-in", allow_redirects=False)
        assert signin.status == 303 and signin.headers["Location"] == "/"


async def test_unknown_and_hostile_things_are_shown_safely(bridge: Bridge, page: Page) -> None:
    await sign_in(page, bridge.url)
    missing = await page.goto(f"{bridge.url}/ui/incidents/42")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("alert")).to_have_text("There is no incident 42.")
    hostile = alert("LumenStageFailed", "page", "<script>alert(1)</script>")
    hostile["alerts"][0]["annotations"]["runbook_url"] = "javascript:alert(1)"
    await post(bridge.client, hostile)
    await page.goto(f"{bridge.url}/ui/incidents/1")
    await expect(page.locator(".lead")).to_have_text("<script>alert(1)</script>")
    await expect(page.get_by_role("link", name="Runbook")).to_have_count(0)
    await expect(page.locator(".links")).to_contain_text("Runbook: javascript:alert(1)")
    anonymous: Any = await bridge.client.get("/", allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/ui/sign-in")


def test_a_flood_of_sign_in_forms_does_not_end_signed_in_sessions(clock: FakeClock) -> None:
    sessions = Sessions()
    kept = sessions.start(clock(), signed_in=True)
    forms = [sessions.start(clock(), signed_in=False) for _ in range(MAX_SIGNING_IN + 1)]

    def cookie(session: Session) -> Any:
        return make_mocked_request("GET", "/", headers={"Cookie": f"{COOKIE}={session.id}"})

    assert sessions.find(cookie(kept), clock()) is kept
    assert sessions.find(cookie(forms[0]), clock()) is None  # the oldest form went
    assert sessions.find(cookie(forms[-1]), clock()) is forms[-1]
    assert kept.csrf_matches(kept.csrf) and not kept.csrf_matches(forms[-1].csrf)
    clock.advance(hours=8)
    assert sessions.find(cookie(kept), clock()) is None


async def test_the_console_reads_and_resend_on_each_backend(
    make_client: AppFactory, ticket: TicketServer, clock: FakeClock
) -> None:
    client = await make_client(deliver=True, LUMEN_TICKET_URL=ticket.url, **SMTP_NOWHERE)
    bridge = Bridge("", client)
    await dead_ticket(bridge)
    await post(client, alert("LumenStageFailed", "page", "100% of pdf_runs failed", stage="pdf"))
    runner = client.app[RUNNER]

    async def search(**wanted: Any) -> list[str]:
        query = IncidentQuery(**wanted)
        found = await runner.read(lambda c: console_reads.search_incidents(c, query))
        return [row.alertname for row in found]

    assert await search() == ["LumenStageFailed", ALERT]
    assert await search(text="100%") == ["LumenStageFailed"]  # % is no wildcard
    assert await search(text="0%") == ["LumenStageFailed"]
    assert await search(text="_runs") == ["LumenStageFailed"]
    assert await search(text="REMOTE-B") == [ALERT]  # labels, any case
    assert await search(severity="ticket", status="firing") == [ALERT]
    assert await search(limit=1) == ["LumenStageFailed", ALERT]  # one more: a next page
    assert await search(offset=1, limit=1) == [ALERT]
    assert await runner.read(console_reads.severities) == ["page", "ticket"]

    [first] = await runner.read(console_reads.dead_notifications)
    assert first.incidents == [(1, ALERT)] and "HTTP 400" in first.row.last_error
    again = await runner.write(lambda c: resend(c, first.row.id, clock(), "admin"))
    assert again.idempotency_key == f"{first.row.idempotency_key}-resend-1"
    with pytest.raises(NotDead):
        await runner.write(lambda c: resend(c, again.id, clock(), "admin"))

    async def health() -> dict[str, tuple[int, int, int, int]]:
        found = await runner.read(lambda c: console_reads.delivery_health(c, ["default"]))
        return {h.receiver: (h.pending, h.retrying, h.dead, h.delivered) for h in found}

    async def settled() -> bool:  # the copy delivered; the page e-mail waits for a retry
        return await health() == {
            "default": (0, 0, 0, 0),
            "backlog": (0, 0, 1, 1),
            "oncall": (0, 1, 0, 0),
        }

    await eventually(settled)


CONTRAST = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.offsetParent === null) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push([el.tagName, el.textContent.trim().slice(0, 30), ratio.toFixed(2)]);
  }
  return worst;
}"""


async def test_every_text_has_enough_contrast(bridge: Bridge, page: Page) -> None:
    """WCAG AA (4.5:1) for the text of each page, from the browser's computed styles."""
    await dead_ticket(bridge)
    await sign_in(page, bridge.url)
    low = {}
    for path in ("/", "/ui/incidents/1", "/ui/silences", "/ui/flag", "/ui/deliveries"):
        await page.goto(bridge.url + path)
        if found := await page.evaluate(CONTRAST):
            low[path] = found
    assert low == {}
