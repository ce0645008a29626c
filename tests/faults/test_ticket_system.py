"""The ticket system fails in the ways docs/delivery.md classifies: 5xx a few times, 429 with
``Retry-After``, slower than the receiver's timeout, and 400 (dead at once)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import aiohttp
import pytest

from tests.faults.conftest import Launch
from tests.faults.peers import Hit, Plan, Reply, Tickets
from tests.faults.rig import (
    Alertmanager,
    Bridge,
    attempts,
    check_books,
    outbox,
    query,
    report,
    until,
    webhook,
)

pytestmark = pytest.mark.faults


async def ticketing(
    launch: Launch,
    tickets: Tickets,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    plan: Plan,
    **options: str,
) -> tuple[Bridge, str, Alertmanager]:
    """A bridge whose tickets go to ``tickets`` answering by ``plan``; one ticket queued."""
    tickets.plan = plan
    db = f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}"
    bridge = await launch(db, LUMEN_TICKET_URL=tickets.url, **options)
    sent = Alertmanager(http, bridge)
    assert (await sent.send(webhook("ticket-0", "ticket")))["queued"] == 1
    return bridge, db, sent


async def settled(db: str) -> bool:
    """Whether every notification has ended (delivered or dead)."""
    return set(await outbox(db)) <= {"delivered", "dead"}


def gaps(hits: list[Hit]) -> list[float]:
    """Seconds between one request and the next."""
    return [later.at - earlier.at for earlier, later in pairwise(hits)]


async def test_500_three_times_then_200_delivers_once_with_one_key(
    launch: Launch, tickets: Tickets, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    _, db, sent = await ticketing(
        launch, tickets, http, tmp_path, lambda hit: Reply(500 if hit.nth < 3 else 200)
    )
    await until(lambda: settled(db), what="the ticket delivered")
    [key] = tickets.by_key()
    assert [hit.status for hit in tickets.hits] == [500, 500, 500, 200]
    assert await attempts(db) == [(key, "retry", 500)] * 3 + [(key, "delivered", 200)]
    waits = gaps(tickets.hits)
    # equal jitter on 100 ms doubling: at least 50, 100, 200 ms before retries 1, 2, 3
    assert all(wait >= 0.05 * 2**i for i, wait in enumerate(waits)), waits
    await check_books(db, sent)
    report(
        "ticket 500 x3 then 200",
        requests=len(tickets.hits),
        idempotency_keys=1,
        attempts="retry,retry,retry,delivered",
        waits_s=",".join(f"{w:.2f}" for w in waits),
        seconds_to_delivery=f"{sum(waits):.2f}",
        dead=0,
    )


async def test_429_with_retry_after_waits_at_least_that(
    launch: Launch, tickets: Tickets, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def plan(hit: Hit) -> Reply:
        return Reply(429, {"Retry-After": "1"}) if hit.nth == 0 else Reply()

    _, db, sent = await ticketing(launch, tickets, http, tmp_path, plan)
    await until(lambda: settled(db), what="the ticket delivered")
    [key] = tickets.by_key()
    assert [hit.status for hit in tickets.hits] == [429, 200]
    assert await attempts(db) == [(key, "retry", 429), (key, "delivered", 200)]
    [wait] = gaps(tickets.hits)
    assert wait >= 1.0, f"retried {wait:.3f} s after a Retry-After of 1 s"  # not 50-100 ms
    await check_books(db, sent)
    report(
        "ticket 429 Retry-After: 1",
        requests=2,
        idempotency_keys=1,
        attempts="retry,delivered",
        wait_before_retry_s=f"{wait:.2f}",
        dead=0,
    )


async def test_slower_than_the_timeout_then_fast_delivers_with_one_key(
    launch: Launch, tickets: Tickets, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def plan(hit: Hit) -> Reply:  # twice slower than the 1 s timeout, then at once
        return Reply(200, delay=3.0) if hit.nth < 2 else Reply()

    _, db, sent = await ticketing(launch, tickets, http, tmp_path, plan, ticket_timeout="1s")
    await until(lambda: settled(db), what="the ticket delivered")
    [key] = tickets.by_key()
    assert len(tickets.hits) == 3
    assert await attempts(db) == [(key, "retry", None)] * 2 + [(key, "delivered", 200)]
    errors = await query(db, "SELECT error FROM delivery_attempts WHERE result = 'retry'")
    assert all("timed out after 1.0s" in error for (error,) in errors), errors
    waits = gaps(tickets.hits)
    assert all(wait >= 1.0 for wait in waits), waits  # each try waited out the timeout
    await check_books(db, sent)
    report(
        "ticket slower than the 1 s timeout, then fast",
        requests=3,
        idempotency_keys=1,
        attempts="retry(timeout),retry(timeout),delivered",
        seconds_to_delivery=f"{sum(waits):.2f}",
        dead=0,
    )


async def test_400_is_dead_at_once_and_shows(
    launch: Launch, tickets: Tickets, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def plan(hit: Hit) -> Reply:  # the first incident's ticket is refused; others are fine
        return Reply(400) if hit.key.startswith("lumen-1-") else Reply()

    bridge, db, sent = await ticketing(launch, tickets, http, tmp_path, plan)
    await until(lambda: settled(db), what="the refused ticket to end")
    # A second incident is delivered after it: a retry of the first would have come by now.
    assert (await sent.send(webhook("ticket-1", "ticket")))["queued"] == 1
    await until(lambda: settled(db), what="the second ticket to end")
    assert await outbox(db) == {"dead": 1, "delivered": 1}
    refused = tickets.by_key()["lumen-1-open-1"]
    assert [hit.status for hit in refused] == [400]  # one attempt
    assert (await attempts(db))[0] == ("lumen-1-open-1", "dead", 400)
    status, detail = await bridge.get(http, "/incidents/1")
    assert status == 200
    [notification] = [e for e in detail["timeline"] if e["type"] == "notification"]
    assert notification["status"] == "dead"
    assert [(a["result"], a["status_code"]) for a in notification["attempts"]] == [("dead", 400)]
    assert "HTTP 400" in notification["detail"]["last_error"]
    assert await bridge.metric(http, "lumen_bridge_outbox_dead") == 1
    dead = await bridge.metric(
        http, "lumen_bridge_notifications_total", receiver="backlog", result="dead"
    )
    assert dead == 1
    await check_books(db, sent)
    report(
        "ticket 400",
        requests_for_refused_ticket=1,
        attempts="dead",
        outbox="dead=1 delivered=1",
        dead_gauge=1,
        incident_timeline="dead (400)",
    )
