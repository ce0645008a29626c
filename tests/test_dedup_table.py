"""Every row of docs/contract.md §5, on SQLite and on PostgreSQL, through the HTTP API."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from lumen_bridge.api.keys import INGEST
from lumen_bridge.pipeline import Summary, Webhook
from tests.conftest import AppFactory, FakeClock, auth, fixture, payload, post
from tests.helpers import count_events, incidents, item_actions, notifications

TICKET = {"severity": "ticket"}
NEW_START = "2026-11-26T12:20:00Z"


def answer(queued: int = 0, deduplicated: int = 0, ignored: int = 0, alerts: int = 1) -> Any:
    return {
        "alerts": alerts,
        "queued": queued,
        "deduplicated": deduplicated,
        "suppressed": 0,
        "ignored": ignored,
    }


async def assert_replaced(client: TestClient[Any, Any]) -> None:
    """One incident resolved and retired, its successor firing; open, resolve, open."""
    old, new = await incidents(client)
    assert (old.status, old.is_current) == ("resolved", False)
    assert (new.status, new.is_current) == ("firing", True)
    assert [(n[2], n[3]) for n in await notifications(client)] == [
        ("open", [old.id]),
        ("resolve", [old.id]),
        ("open", [new.id]),
    ]


async def test_case1_first_firing_opens_one_incident(client: TestClient[Any, Any]) -> None:
    assert await post(client, payload()) == answer(queued=1)
    [incident] = await incidents(client)
    assert (incident.status, incident.receiver, incident.occurrences) == ("firing", "oncall", 1)
    assert await notifications(client) == [("oncall", "email", "firing", [incident.id])]


async def test_case2_repeat_within_window_only_counts(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload())
    clock.advance(minutes=9, seconds=59)
    assert await post(client, payload()) == answer(deduplicated=1)
    [incident] = await incidents(client)
    assert incident.occurrences == 2
    assert incident.last_seen == clock.now
    assert len(await notifications(client)) == 1


async def test_case3_after_window_page_reminds_once(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload())
    clock.advance(minutes=10)
    assert await post(client, payload()) == answer(queued=1)
    clock.advance(minutes=1)
    assert await post(client, payload()) == answer(deduplicated=1)
    assert await item_actions(client) == ["open", "update"]
    assert [n[2] for n in await notifications(client)] == ["firing", "firing"]


async def test_case3_ticket_gets_update_never_second_open(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(labels=TICKET))
    for _ in range(3):
        clock.advance(minutes=11)
        assert await post(client, payload(labels=TICKET)) == answer(queued=1)
    rows = await notifications(client)
    assert [(r[0], r[1], r[2]) for r in rows] == [("backlog", "ticket", "open")] + [
        ("backlog", "ticket", "update")
    ] * 3
    assert len({r[3][0] for r in rows}) == 1  # all for one incident


async def test_case4_resolve_goes_to_the_notified_receiver(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload())
    clock.advance(minutes=3)
    assert await post(client, payload("resolved")) == answer(queued=1)
    [incident] = await incidents(client)
    assert incident.status == "resolved"
    assert incident.resolved_at == clock.now
    assert [n[2] for n in await notifications(client)] == ["firing", "resolve"]


async def test_case4_resolve_of_an_untold_incident_is_ignored(
    client: TestClient[Any, Any],
) -> None:
    # severity=info routes to "default", which has no destination unless configured.
    info = {"severity": "info"}
    assert await post(client, payload(labels=info)) == answer(ignored=1)
    assert await post(client, payload("resolved", labels=info)) == answer(ignored=1)
    assert await notifications(client) == []
    [incident] = await incidents(client)
    assert incident.status == "resolved"


async def test_case5_second_resolve_sends_nothing(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload())
    await post(client, payload("resolved"))
    clock.advance(seconds=30)
    assert await post(client, payload("resolved")) == answer(deduplicated=1)
    assert len(await notifications(client)) == 2


async def test_case6_stale_ha_copy_does_not_reopen(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    """The real capture: firing, resolved, a stale firing 5 s later, resolved again."""
    expected = [answer(queued=1), answer(queued=1), answer(ignored=1), answer(deduplicated=1)]
    elapsed = 0.0
    for delivery, want in zip(
        fixture("ha_pair_resolve_then_stale_firing.json"), expected, strict=True
    ):
        clock.advance(seconds=delivery["after_seconds"] - elapsed)
        elapsed = delivery["after_seconds"]
        assert await post(client, delivery["body"]) == want
    [incident] = await incidents(client)
    assert incident.status == "resolved"
    assert [n[2] for n in await notifications(client)] == ["firing", "resolve"]
    assert await count_events(client) == 4  # every copy is stored


async def test_case7_new_episode_within_reopen_window_reopens(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(labels=TICKET))
    clock.advance(minutes=20)
    await post(client, payload("resolved", labels=TICKET))
    clock.advance(minutes=9)
    assert await post(client, payload(labels=TICKET, starts_at=NEW_START)) == answer(queued=1)
    [incident] = await incidents(client)
    assert incident.status == "firing"
    assert incident.starts_at.isoformat().startswith("2026-11-26T12:20:00")
    assert [n[2] for n in await notifications(client)] == ["open", "resolve", "reopen"]
    # the reopened episode resolves again, to the same ticket
    clock.advance(minutes=1)
    assert await post(client, payload("resolved", labels=TICKET, starts_at=NEW_START)) == answer(
        queued=1
    )
    assert len({n[3][0] for n in await notifications(client)}) == 1


async def test_case7_page_reopen_sends_a_page(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload())
    await post(client, payload("resolved"))
    clock.advance(minutes=2)
    assert await post(client, payload(starts_at=NEW_START)) == answer(queued=1)
    assert await item_actions(client) == ["open", "resolve", "reopen"]
    assert [n[2] for n in await notifications(client)] == ["firing", "resolve", "firing"]


async def test_case8_after_reopen_window_a_new_incident(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(labels=TICKET))
    await post(client, payload("resolved", labels=TICKET))
    clock.advance(minutes=10)
    assert await post(client, payload(labels=TICKET, starts_at=NEW_START)) == answer(queued=1)
    await assert_replaced(client)


async def test_cases_1_4_8_within_one_batch(client: TestClient[Any, Any], clock: FakeClock) -> None:
    """An incident opened, resolved and replaced in one group commit: the retired one is
    inserted already retired, and each gets its own notifications."""
    first, resolved, later = (
        json.dumps(body).encode()
        for body in (
            payload(labels=TICKET),
            payload("resolved", labels=TICKET),
            payload(labels=TICKET, starts_at=NEW_START),
        )
    )
    summaries = await client.app[INGEST].pipeline.run_many(
        [
            Webhook(first, clock.now),
            Webhook(resolved, clock.now),
            Webhook(later, clock.now + timedelta(minutes=10)),
        ]
    )
    assert [s.as_json() for s in summaries if isinstance(s, Summary)] == [answer(queued=1)] * 3
    await assert_replaced(client)


async def test_case9_twenty_twins_at_once_notify_once(client: TestClient[Any, Any]) -> None:
    body = payload(n=5)
    answers = await asyncio.gather(*(post(client, body) for _ in range(20)))
    assert sum(a["queued"] for a in answers) == 5
    assert sum(a["deduplicated"] for a in answers) == 95
    assert len(await incidents(client)) == 5
    assert sum(len(n[3]) for n in await notifications(client)) == 5
    assert await count_events(client) == 100


async def test_case9_two_apps_on_one_database(make_client: AppFactory) -> None:
    """Two app instances (own engines and pools) share the database and race."""
    first, second = await make_client(), await make_client()
    body = payload(n=3, labels=TICKET)
    answers = await asyncio.gather(*(post(first if i % 2 else second, body) for i in range(20)))
    assert sum(a["queued"] for a in answers) == 3
    assert len(await notifications(first)) == 3


async def test_restart_keeps_the_dedup_state(make_client: AppFactory) -> None:
    first = await make_client()
    await post(first, payload())
    await first.close()
    second = await make_client()
    assert await post(second, payload()) == answer(deduplicated=1)
    assert len(await notifications(second)) == 1


async def test_older_episode_firing_is_stale(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(starts_at=NEW_START))
    assert await post(client, payload()) == answer(ignored=1)


async def test_windows_are_per_route(make_client: AppFactory, clock: FakeClock) -> None:
    # the dedup window is read per route; a missing resolve of the fixture is fine here
    client = await make_client()
    await post(client, payload(labels=TICKET))
    clock.advance(minutes=10)
    assert await post(client, payload(labels=TICKET)) == answer(queued=1)


async def test_mixed_payload_counts_each_alert_once(client: TestClient[Any, Any]) -> None:
    body = payload(n=3)
    body["alerts"][1]["labels"]["severity"] = "ticket"
    body["alerts"][2]["labels"]["severity"] = "info"  # default receiver: no destination
    assert await post(client, body) == answer(queued=2, ignored=1, alerts=3)
    rows = await notifications(client)
    assert sorted((r[0], r[2]) for r in rows) == [("backlog", "open"), ("oncall", "firing")]


async def test_storm_is_one_email_row(client: TestClient[Any, Any]) -> None:
    # 1,200 new incidents: three multi-row INSERTs of up to 500 (store.sql.bulk)
    assert await post(client, payload(n=1200)) == answer(queued=1200, alerts=1200)
    [row] = await notifications(client)
    assert (row[0], row[2], len(row[3])) == ("oncall", "firing", 1200)
    assert len({incident.id for incident in await incidents(client)}) == 1200


async def test_alert_without_fingerprint_uses_label_hash(client: TestClient[Any, Any]) -> None:
    body = payload()
    del body["alerts"][0]["fingerprint"]
    await post(client, body)
    assert await post(client, body) == answer(deduplicated=1)
    [incident] = await incidents(client)
    assert len(incident.identity) == 16


async def test_unauthorised_twin_changes_nothing(client: TestClient[Any, Any]) -> None:
    response = await client.post("/webhook", json=payload(), headers=auth("wrong"))
    assert response.status == 401
    assert await incidents(client) == []
