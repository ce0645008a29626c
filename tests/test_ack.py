"""Acknowledging an incident (docs/lifecycle.md): the API, the console's button and the signed
link of a page e-mail; an ack stops the episode's reminders, reaches the ticket system once,
and a re-fire after a resolve is not acknowledged. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from lumen_bridge.api.keys import ACK_SECRET
from lumen_bridge.cli import main
from lumen_bridge.domain.ack import AckClaim, BadToken, sign, verify
from tests.conftest import ADMIN_TOKEN, AppFactory, FakeClock, auth, payload, post
from tests.helpers import notifications
from tests.servers import SmtpSink, TicketServer, eventually
from tests.test_delivery_ticket import CONTRACT_KEYS

NAMED = "alice=alice-token,bob=bob-token"
ALICE, BOB = auth("alice-token"), auth("bob-token")
EXTERNAL = "https://bridge.example"
LATER = "2026-11-26T12:20:00Z"  # the startsAt of a re-fire


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
async def tickets() -> AsyncIterator[TicketServer]:
    server = await TicketServer().start()
    yield server
    await server.close()


async def ack(client: TestClient[Any, Any], incident: int, headers: Any, **body: str) -> Any:
    response = await client.post(f"/incidents/{incident}/ack", json=body or None, headers=headers)
    return response.status, await response.json()


async def incident(client: TestClient[Any, Any], incident_id: int = 1) -> Any:
    return await (await client.get(f"/incidents/{incident_id}", headers=ALICE)).json()


async def acks_in_audit(client: TestClient[Any, Any]) -> list[tuple[str, str, Any]]:
    answer = await (await client.get("/audit?action=ack", headers=ALICE)).json()
    return [(e["actor"], e["target"], e["detail"]) for e in answer["entries"]]


async def test_an_api_ack_names_its_token_and_stops_the_reminders(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client(LUMEN_ADMIN_TOKENS=NAMED)
    await post(client, payload())
    status, first = await ack(client, 1, ALICE, comment="on it")
    assert status == 200
    assert (first["acked_by"], first["already_acknowledged"]) == ("alice", False)
    status, again = await ack(client, 1, BOB)
    assert status == 200 and again["already_acknowledged"] is True
    assert again["acked_by"] == "alice" and "already acknowledged by alice" in again["message"]
    assert await acks_in_audit(client) == [("alice", "1", {"comment": "on it", "via": "api"})]
    clock.advance(minutes=11)  # past the dedup window: a reminder is due, but it is acked
    answer = await post(client, payload())
    assert (answer["queued"], answer["deduplicated"]) == (0, 1)
    assert [n[2] for n in await notifications(client)] == ["firing"]  # the first page only
    found = await incident(client)
    assert found["acknowledged"] is True and found["acked_by"] == "alice"
    [entry] = [e for e in found["timeline"] if e["type"] == "ack"]
    assert entry["detail"] == {"by": "alice", "comment": "on it", "via": "api"}
    assert (await ack(client, 99, ALICE))[0] == 404
    assert (await ack(client, 1, auth("wrong")))[0] == 401
    response = await client.post("/incidents/1/ack", data="{", headers=ALICE)
    assert response.status == 400


async def test_a_refire_after_a_resolve_is_not_acknowledged(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client(LUMEN_ADMIN_TOKENS=NAMED)
    await post(client, payload())
    assert (await ack(client, 1, ALICE))[0] == 200
    clock.advance(minutes=2)
    await post(client, payload("resolved"))
    status, body = await ack(client, 1, BOB)
    assert status == 409 and "resolved" in body["error"]
    clock.advance(minutes=2)  # within the reopen window: the same incident, a new episode
    assert (await post(client, payload(starts_at=LATER)))["queued"] == 1
    found = await incident(client)
    assert found["status"] == "firing"
    assert (found["acknowledged"], found["acked_by"], found["acked_at"]) == (False, None, None)
    clock.advance(minutes=11)
    assert (await post(client, payload(starts_at=LATER)))["queued"] == 1  # reminders again
    status, body = await ack(client, 1, BOB)
    assert (status, body["acked_by"], body["already_acknowledged"]) == (200, "bob", False)
    assert [actor for actor, _, _ in await acks_in_audit(client)] == ["bob", "alice"]


async def test_the_ticket_system_gets_the_ack_once(
    make_client: AppFactory, tickets: TicketServer
) -> None:
    client = await make_client(deliver=True, LUMEN_ADMIN_TOKENS=NAMED, LUMEN_TICKET_URL=tickets.url)
    await post(client, payload(labels={"severity": "ticket"}))
    await eventually(lambda: len(tickets.requests) == 1)
    status, first = await ack(client, 1, ALICE, comment="looking")
    assert (status, first["tickets_updated"]) == (200, 1)
    assert (await ack(client, 1, BOB))[1]["tickets_updated"] == 0
    await eventually(lambda: len(tickets.requests) == 2)
    opened, acked = tickets.requests
    assert acked.body["action"] == "update" and acked.body["dedup_key"] == "lumen-1"
    assert set(acked.body) == CONTRACT_KEYS | {"acknowledged"}
    assert acked.body["acknowledged"] == {
        "by": "alice",
        "at": first["acked_at"],
        "comment": "looking",
    }
    assert "acknowledged" not in opened.body
    assert acked.headers["Idempotency-Key"] == "lumen-1-update-2"
    assert [n[2] for n in await notifications(client)] == ["open", "update"]


async def test_the_console_button_acks_as_the_signed_in_admin(make_client: AppFactory) -> None:
    client = await make_client(LUMEN_ADMIN_TOKENS=NAMED)
    await post(client, payload())
    form = await (await client.get("/ui/sign-in")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    signed = {"csrf": csrf[1], "token": "alice-token", "next": "/"}
    response = await client.post("/ui/sign-in", data=signed, allow_redirects=False)
    assert response.status == 303
    page = await (await client.get("/ui/incidents/1")).text()
    assert 'action="/ui/incidents/1/ack"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    forged = await client.post("/ui/incidents/1/ack", data={"comment": "x"})
    assert forged.status == 403  # no CSRF token
    done = await client.post(
        "/ui/incidents/1/ack", data={"csrf": csrf[1], "comment": "mine"}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == "/ui/incidents/1"
    page = await (await client.get("/ui/incidents/1")).text()
    assert "by alice at 2026-11-26 12:00:00 UTC" in page
    assert 'action="/ui/incidents/1/ack"' not in page  # no button once acknowledged
    assert await acks_in_audit(client) == [("alice", "1", {"comment": "mine", "via": "console"})]


async def test_the_e_mail_link_acks_only_when_its_button_is_pressed(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await make_client(
        deliver=True,
        LUMEN_ADMIN_TOKENS=NAMED,
        LUMEN_EXTERNAL_URL=EXTERNAL,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
    )
    await post(client, payload())
    await eventually(lambda: len(smtp.messages) == 1)
    message = smtp.messages[0].message
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = re.search(rf"Acknowledge:\s+{EXTERNAL}/ack/(\S+)", plain)
    assert link is not None
    token = link[1]
    assert f'href="{EXTERNAL}/ack/{token}"' in html
    shown = await client.get(f"/ack/{token}")  # what a mail scanner does
    assert shown.status == 200
    assert f'action="/ack/{token}"' in await shown.text()
    assert (await incident(client))["acknowledged"] is False
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for method in (client.get, client.post):
        refused = await method(f"/ack/{tampered}")
        assert refused.status == 400 and "was changed" in await refused.text()
    assert (await client.get("/ack/1.2.3")).status == 400
    done = await client.post(f"/ack/{token}")
    assert done.status == 200 and "acknowledged" in await done.text()
    found = await incident(client)
    assert (found["acknowledged"], found["acked_by"]) == (True, "email-link")
    assert await acks_in_audit(client) == [
        ("email-link", "1", {"comment": "", "via": "email-link"})
    ]
    assert (await client.post(f"/ack/{token}")).status == 200  # again: already acknowledged
    assert len(await acks_in_audit(client)) == 1
    clock.advance(hours=24, seconds=1)  # ack.link_ttl
    expired = await client.get(f"/ack/{token}")
    assert expired.status == 400 and "expired" in await expired.text()


async def test_a_link_of_an_earlier_episode_is_refused(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client(LUMEN_EXTERNAL_URL=EXTERNAL)
    await post(client, payload())
    claim = AckClaim(1, episode=1, expires=int((clock() + timedelta(hours=1)).timestamp()))
    token = sign(client.app[ACK_SECRET], claim)
    shown = await client.get(f"/ack/{token}")
    assert shown.status == 200 and "earlier firing" in await shown.text()
    refused = await client.post(f"/ack/{token}")
    assert refused.status == 409 and "fired again" in await refused.text()
    response = await client.get("/incidents/1", headers=auth(ADMIN_TOKEN))
    assert (await response.json())["acknowledged"] is False


def test_a_token_is_checked_for_its_signature_then_its_expiry() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    claim = AckClaim(7, 123, int((now + timedelta(minutes=5)).timestamp()))
    token = sign(b"k" * 32, claim)
    assert verify(b"k" * 32, token, now) == claim
    for bad, key, at in (
        (token, b"x" * 32, now),  # another bridge's
        (token.replace("7.", "8.", 1), b"k" * 32, now),  # another incident
        (token, b"k" * 32, now + timedelta(minutes=5)),  # expired
        ("7.123", b"k" * 32, now),
        ("a.b.c.d", b"k" * 32, now),
    ):
        with pytest.raises(BadToken):
            verify(key, bad, at)


async def test_the_cli_acks_as_its_token(
    make_client: AppFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await make_client(LUMEN_ADMIN_TOKENS=NAMED)
    await post(client, payload())
    monkeypatch.setenv("LUMEN_BRIDGE_URL", str(client.make_url("")))
    monkeypatch.setenv("LUMEN_ADMIN_TOKEN", "bob-token")
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["ack", "1", "--comment", "disk"]) == 0
    assert capsys.readouterr().out == "incident 1 acknowledged by bob\n"
    assert await asyncio.to_thread(main, ["ack", "7"]) == 1
    assert capsys.readouterr().err == "lumen-bridge: no incident 7\n"
    assert await acks_in_audit(client) == [("bob", "1", {"comment": "disk", "via": "api"})]
