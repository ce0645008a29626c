"""Replay: what a silence held back is notified once when it ends — on expiry, on DELETE,
after a restart, and with two replicas sharing the database."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from lumen_bridge.api.keys import REPLAYER
from lumen_bridge.app import create_app
from lumen_bridge.clock import system_clock
from lumen_bridge.store.models import Silence
from tests.conftest import AppFactory, FakeClock, make_settings, payload, post
from tests.helpers import incidents, item_actions, notifications, rows
from tests.servers import TicketServer, eventually
from tests.test_silence_api import ADMIN, NOWHERE, TICKET, add_silence, matcher

NEW_START = "2026-11-26T12:20:00Z"


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(**NOWHERE)


async def replay(client: TestClient[Any, Any], clock: FakeClock) -> int:
    return await client.app[REPLAYER].replay_expired(clock.now)


async def test_expiry_notifies_what_was_held_back_once(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client(**NOWHERE)
    await add_silence(client, duration="1h")
    assert (await post(client, payload(n=2)))["suppressed"] == 2  # one page e-mail, two alerts
    assert (await post(client, payload(labels=TICKET, fingerprint="t")))["suppressed"] == 1
    clock.advance(minutes=59)
    assert await replay(client, clock) == 0  # still in force
    clock.advance(minutes=1)
    await replay(client, clock)
    await replay(client, clock)
    rows = await notifications(client)
    assert sorted((r[0], r[2], len(r[3])) for r in rows) == [
        ("backlog", "open", 1),
        ("oncall", "firing", 2),
    ]
    assert all(not i.held and i.notified for i in await incidents(client))
    # Alertmanager's next repeat is a repeat of what was just sent
    assert (await post(client, payload(n=2)))["deduplicated"] == 2


async def test_delete_replays_before_answering(client: TestClient[Any, Any]) -> None:
    silence = await add_silence(client, matchers=[matcher("severity", "ticket")])
    await post(client, payload(labels=TICKET))
    assert await item_actions(client) == []
    response = await client.delete(f"/silence/{silence['id']}", headers=ADMIN)
    assert response.status == 200
    assert await item_actions(client) == ["open"]
    assert (await client.delete(f"/silence/{silence['id']}", headers=ADMIN)).status == 200
    assert await item_actions(client) == ["open"]


async def test_replay_reopens_a_ticket_told_before(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(labels=TICKET))
    await post(client, payload("resolved", labels=TICKET))
    silence = await add_silence(client)
    clock.advance(minutes=2)
    assert (await post(client, payload(labels=TICKET, starts_at=NEW_START)))["suppressed"] == 1
    await client.delete(f"/silence/{silence['id']}", headers=ADMIN)
    assert await item_actions(client) == ["open", "resolve", "reopen"]


async def test_a_held_reminder_becomes_an_update(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(labels=TICKET))
    await add_silence(client, duration="1h")
    clock.advance(minutes=11)
    assert (await post(client, payload(labels=TICKET)))["suppressed"] == 1
    clock.advance(hours=1)
    await replay(client, clock)
    assert await item_actions(client) == ["open", "update"]


async def test_nothing_is_replayed_while_something_else_holds_it(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client(**NOWHERE)
    first = await add_silence(client)
    second = await add_silence(client, matchers=[matcher("instance", "remote-a")])
    flag = await add_silence(client, matchers=[])
    await post(client, payload())
    await client.delete(f"/silence/{first['id']}", headers=ADMIN)
    await client.delete(f"/silence/{flag['id']}", headers=ADMIN)
    assert await item_actions(client) == []
    [incident] = await incidents(client)
    assert incident.held
    await client.delete(f"/silence/{second['id']}", headers=ADMIN)
    assert await item_actions(client) == ["open"]


async def test_the_environment_flag_holds_through_a_silence_end(
    make_client: AppFactory,
) -> None:
    client = await make_client(LUMEN_ALERT_SUPPRESSED="1", **NOWHERE)
    silence = await add_silence(client)
    assert (await post(client, payload()))["suppressed"] == 1
    await client.delete(f"/silence/{silence['id']}", headers=ADMIN)
    assert await item_actions(client) == []


async def test_resolved_while_silenced_is_not_replayed(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await add_silence(client, duration="1h")
    await post(client, payload(labels=TICKET))
    await post(client, payload("resolved", labels=TICKET))
    clock.advance(hours=2)
    assert await replay(client, clock) == 0
    assert await item_actions(client) == []


async def test_a_hold_committed_after_the_replay_is_released_at_the_next_pass(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    """A webhook received just before the end but committed after the replay (a race)."""
    await add_silence(client, duration="1h")
    clock.advance(hours=1)
    assert await replay(client, clock) == 0  # the silence is claimed; nothing held yet
    clock.advance(seconds=-1)
    assert (await post(client, payload(labels=TICKET)))["suppressed"] == 1
    clock.advance(seconds=61)
    await replay(client, clock)  # the watcher may run this pass first: count what is queued
    assert await item_actions(client) == ["open"]


async def test_a_silence_that_ended_while_down_is_replayed_at_start(
    make_client: AppFactory, clock: FakeClock
) -> None:
    first = await make_client(**NOWHERE)
    await add_silence(first, duration="10m")
    await post(first, payload(labels=TICKET))
    await first.close()  # the bridge is down while the silence ends
    clock.advance(minutes=15)

    second = await make_client(**NOWHERE)
    deadline = time.monotonic() + 10
    while await item_actions(second) == []:  # the watcher's first pass, at start
        assert time.monotonic() < deadline, "not replayed at start"
        await asyncio.sleep(0.02)
    await second.close()

    third = await make_client(**NOWHERE)  # a second restart replays nothing again
    assert await third.app[REPLAYER].replay_expired(clock.now) == 0
    assert await item_actions(third) == ["open"]
    [(replayed_at,)] = await rows(third, select(Silence.replayed_at))
    assert replayed_at == clock.now


async def test_lowering_the_environment_flag_releases_at_start(
    make_client: AppFactory,
) -> None:
    flagged = await make_client(LUMEN_ALERT_SUPPRESSED="1", **NOWHERE)
    await post(flagged, payload(labels=TICKET))
    await flagged.close()
    client = await make_client(**NOWHERE)
    await client.app[REPLAYER].replay_expired(client.app[REPLAYER].clock())
    assert await item_actions(client) == ["open"]


async def test_two_replicas_replay_once_between_them(
    make_client: AppFactory, clock: FakeClock
) -> None:
    one = await make_client(**NOWHERE)
    two = await make_client(**NOWHERE)
    await add_silence(one, matchers=[matcher("severity", "ticket")], duration="1h")
    await add_silence(two, matchers=[matcher("n", "1|2|3", regex=True)], duration="1h")
    assert (await post(one, payload(labels=TICKET, n=20)))["suppressed"] == 20
    clock.advance(hours=1)
    results = await asyncio.gather(
        *(replica.app[REPLAYER].replay_expired(clock.now) for replica in (one, two) * 4)
    )
    assert sum(results) == 20
    assert await item_actions(one) == ["open"] * 20
    assert len({i for row in await notifications(two) for i in row[3]}) == 20


async def test_the_watcher_replays_when_the_silence_ends(aiohttp_client: Any, db_url: str) -> None:
    """The real task with the real clock: a silence of 1 s, then one notification."""
    client: TestClient[Any, Any] = await aiohttp_client(
        create_app(make_settings(db_url, **NOWHERE), clock=system_clock, deliver=False)
    )
    await add_silence(client, duration="1s")  # long enough for the webhook on a busy machine
    assert (await post(client, payload(labels=TICKET)))["suppressed"] == 1
    deadline = time.monotonic() + 10
    while await item_actions(client) == []:
        assert time.monotonic() < deadline, "the watcher did not replay"
        await asyncio.sleep(0.02)
    assert await item_actions(client) == ["open"]


async def test_tickets_end_to_end_through_a_flag(make_client: AppFactory) -> None:
    """A real ticket system: the resolve of a ticket opened before the flag goes out while
    the flag is up; the ticket it held back is opened once when it comes down."""
    server = await TicketServer().start()
    try:
        client = await make_client(deliver=True, LUMEN_TICKET_URL=server.url)
        await post(client, payload(labels=TICKET, fingerprint="before"))
        await eventually(lambda: len(server.requests) == 1)
        flag = await add_silence(client, matchers=[])
        assert (await post(client, payload(labels=TICKET, fingerprint="during")))["suppressed"]
        await post(client, payload("resolved", labels=TICKET, fingerprint="before"))
        await eventually(lambda: len(server.requests) == 2)
        await client.delete(f"/silence/{flag['id']}", headers=ADMIN)
        await eventually(lambda: len(server.requests) == 3)
        await post(client, payload(labels=TICKET, fingerprint="during"))  # a repeat
        await client.app[REPLAYER].replay_expired(client.app[REPLAYER].clock())
        assert await item_actions(client) == ["open", "resolve", "open"]  # nothing more queued
        assert [r.body["action"] for r in server.requests] == ["open", "resolve", "open"]
        ids = [r.body["incident_id"] for r in server.requests]
        assert ids[0] == ids[1] != ids[2]
    finally:
        await server.close()
