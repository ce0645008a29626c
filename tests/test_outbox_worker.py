"""The worker's own rules: Retry-After, leases, shutdown, runbook links (the retry policy's
backoff has its own tests: tests/unit/test_retry_policy.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Row, select
from sqlalchemy.exc import OperationalError

from lumen_bridge.api.keys import RUNNER
from lumen_bridge.app import OUTBOX, create_app
from lumen_bridge.config import RunbookConfig
from lumen_bridge.delivery import OutboxWorker, worker
from lumen_bridge.domain.notification import Delivery
from lumen_bridge.metrics import Metrics
from lumen_bridge.notifiers import Result
from lumen_bridge.notifiers.http import parse_retry_after
from lumen_bridge.notifiers.runbook import runbook_url
from lumen_bridge.store import attempts, outbox
from lumen_bridge.store.attempts import AttemptOutcome
from lumen_bridge.store.models import DeliveryAttempt, Notification, OutboxStatus
from tests import helpers
from tests.conftest import FakeClock, make_settings, payload, post
from tests.servers import TicketServer, eventually

TICKET = {"severity": "ticket"}


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 26 Nov 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_runbook_links() -> None:
    config = RunbookConfig(
        base_url="https://rb.example/lumen", anchors={"LumenStageFailed": "stage-fail"}
    )
    assert runbook_url(config, "LumenStageFailed", {}) == "https://rb.example/lumen#stage-fail"
    assert runbook_url(config, "DiskFull", {}) == "https://rb.example/lumen#diskfull"
    own = {"runbook_url": "https://wiki/x"}
    assert runbook_url(config, "LumenStageFailed", own) == "https://wiki/x"


def test_shipped_config_links_the_seed_anchors() -> None:
    settings = make_settings("sqlite+aiosqlite:///x.db", LUMEN_RUNBOOK_BASE_URL="https://rb/l")
    expected = {
        "LumenPipelineStalled": "stalled",
        "LumenStageFailed": "stage-fail",
        "LumenIntegrityMismatch": "integrity",
        "LumenSLOBurnFast": "slo-burn",
    }
    for name, anchor in expected.items():
        assert runbook_url(settings.runbook, name, {}) == f"https://rb/l#{anchor}"


@pytest.fixture
async def tickets() -> AsyncIterator[TicketServer]:
    server = await TicketServer().start()
    yield server
    await server.close()


async def rows(client: TestClient[Any, Any]) -> list[Row[Any]]:
    return list(await helpers.rows(client, select(Notification).order_by(Notification.id)))


async def attempt_results(client: TestClient[Any, Any]) -> list[str]:
    return [r for (r,) in await helpers.rows(client, select(DeliveryAttempt.result))]


async def test_a_crashed_workers_row_is_reclaimed_after_its_lease(
    aiohttp_client: Any, db_url: str, clock: FakeClock, tickets: TicketServer
) -> None:
    settings = make_settings(db_url, LUMEN_TICKET_URL=tickets.url)
    client = await aiohttp_client(create_app(settings, clock=clock))
    client.app[OUTBOX]._stopping = True  # this worker claims nothing: the "crashed" one did
    await client.app[OUTBOX].stop()
    await post(client, payload(labels=TICKET))
    lease_until = clock.now + settings.outbox.lease
    [crashed] = await client.app[RUNNER].write(
        lambda connection: outbox.claim(connection, clock.now, lease_until, 10, 100)
    )
    assert crashed.attempt == 1
    second = await aiohttp_client(create_app(settings, clock=clock))
    [row] = await rows(second)
    assert row.status == "in_flight"  # its lease holds: nobody touches it
    clock.advance(minutes=2)
    second.app[OUTBOX].wake()
    await eventually(lambda: len(tickets.requests) == 1)
    await eventually(lambda: _delivered(second))
    [row] = await rows(second)
    assert (row.status, row.attempts) == ("delivered", 2)
    # The crashed worker's late answer cannot overwrite the new owner's outcome.
    late = AttemptOutcome(clock.now, "dead", OutboxStatus.DEAD, clock.now, 500, "late", 1.0)
    assert await second.app[RUNNER].write(
        lambda connection: attempts.finish(connection, [(crashed, late)])
    ) == [False]
    [row] = await rows(second)
    assert row.status == "delivered"


async def _delivered(client: TestClient[Any, Any]) -> bool:
    return "delivered" in await attempt_results(client)


async def test_shutdown_releases_what_is_in_flight(
    aiohttp_client: Any, db_url: str, clock: FakeClock, tickets: TicketServer
) -> None:
    tickets.script = ["hang"]
    settings = make_settings(db_url, LUMEN_TICKET_URL=tickets.url)
    client = await aiohttp_client(create_app(settings, clock=clock))
    await post(client, payload(labels=TICKET))
    await eventually(lambda: len(tickets.requests) == 1)
    await client.app[OUTBOX].stop(grace=0.05)
    [row] = await rows(client)
    assert (row.status, row.attempts, row.lease_until) == ("pending", 0, None)
    assert await attempt_results(client) == []


class Exploding:
    async def send(self, delivery: Delivery) -> Result:
        raise RuntimeError("bug")


async def test_a_notifier_bug_is_retried_and_an_unknown_receiver_is_dead(
    aiohttp_client: Any, db_url: str, clock: FakeClock
) -> None:
    unused = "http://127.0.0.1:9/x"  # never called: the worker below has its own notifiers
    settings = make_settings(db_url, LUMEN_TICKET_URL=unused, LUMEN_DEFAULT_WEBHOOK_URL=unused)
    client = await aiohttp_client(create_app(settings, clock=clock, deliver=False))
    await post(client, payload(labels=TICKET))
    await post(client, payload(labels={"severity": "info"}, fingerprint="other"))
    w = OutboxWorker(
        client.app[RUNNER], {"backlog": Exploding()}, settings.outbox, Metrics(), clock
    )
    w.start()
    try:
        await eventually(lambda: _count(client, 2))
    finally:
        await w.stop()
    ticket, default = await rows(client)
    assert (ticket.status, ticket.last_error) == ("pending", "RuntimeError: bug")
    assert default.status == "dead"
    assert default.last_error == "no receiver 'default' with a destination is configured"


async def _count(client: TestClient[Any, Any], n: int) -> bool:
    return len(await attempt_results(client)) == n


async def test_claims_stop_at_the_alert_budget(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    for i in range(4):  # four pages of five alerts each
        await post(client, payload(fingerprint=f"storm-{i}", n=5))
    lease_until = clock.now + timedelta(minutes=1)

    async def claim(max_alerts: int) -> list[int]:
        claimed = await client.app[RUNNER].write(
            lambda connection: outbox.claim(connection, clock.now, lease_until, 10, max_alerts)
        )
        return [len(d.alerts) for d in claimed]

    assert await claim(12) == [5, 5]  # a third page would make 15
    assert await claim(1) == [5]  # the first row is taken whatever its size
    assert await claim(100) == [5]
    assert await claim(100) == []


async def test_while_webhooks_pile_up_few_rows_are_claimed(
    aiohttp_client: Any, db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "INGEST_FIRST", 60.0)
    settings = make_settings(db_url, LUMEN_TICKET_URL="http://127.0.0.1:9/x")
    client = await aiohttp_client(create_app(settings, clock=clock, deliver=False))
    saturated = True

    class Pressure:
        def saturated(self, within: float) -> bool:
            assert within == worker.INGEST_FIRST
            return saturated

    w = OutboxWorker(
        client.app[RUNNER],
        {"backlog": Exploding()},
        settings.outbox,
        Metrics(),
        clock,
        pressure=Pressure(),
    )
    waiting = worker.INGEST_FIRST_CLAIM + 2
    for i in range(waiting):
        await post(client, payload(labels=TICKET, fingerprint=f"storm-{i}"))
    w.start()  # its first claim goes through, but takes only a few rows
    try:
        await eventually(lambda: _count(client, worker.INGEST_FIRST_CLAIM))
        w.wake()
        await asyncio.sleep(0.2)
        assert len(await attempt_results(client)) == worker.INGEST_FIRST_CLAIM  # deferred...
        saturated = False
        w.wake()
        await eventually(lambda: _count(client, waiting))  # ...and claimed once the storm eased
    finally:
        await w.stop()


class Slow:
    """A receiver that counts its deliveries and takes 0-18 ms over each, not all alike."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, delivery: Delivery) -> Result:
        await asyncio.sleep(0.003 * (delivery.id % 7))
        self.sent += 1
        return Result.delivered(200)


async def test_a_backlog_larger_than_the_slots_drains_each_row_once(
    aiohttp_client: Any, db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(db_url, LUMEN_TICKET_URL="http://127.0.0.1:9/x")
    client = await aiohttp_client(create_app(settings, clock=clock, deliver=False))
    backlog = 3 * worker.CONCURRENCY
    for i in range(backlog):
        await post(client, payload(labels=TICKET, fingerprint=f"backlog-{i}"))
    claims: list[int] = []
    real_claim = outbox.claim

    def counted(*args: Any) -> list[Delivery]:
        claimed = real_claim(*args)
        claims.append(len(claimed))
        return claimed

    monkeypatch.setattr(outbox, "claim", counted)
    receiver = Slow()
    w = OutboxWorker(client.app[RUNNER], {"backlog": receiver}, settings.outbox, Metrics(), clock)
    w.start()
    try:
        await eventually(lambda: _all_delivered(client, backlog))
    finally:
        await w.stop()
    assert receiver.sent == backlog  # each row once
    assert sum(claims) == backlog  # no row claimed twice
    assert max(claims) == worker.CONCURRENCY


async def _all_delivered(client: TestClient[Any, Any], n: int) -> bool:
    return [r.status for r in await rows(client)] == ["delivered"] * n


async def test_a_delivery_is_recorded_once_the_database_is_back(
    aiohttp_client: Any, db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database away just after a send: the attempt is recorded when it comes back (within
    half the lease), instead of the row being sent again when its lease ends."""
    settings = make_settings(db_url, LUMEN_TICKET_URL="http://127.0.0.1:9/x")
    client = await aiohttp_client(create_app(settings, clock=clock, deliver=False))
    await post(client, payload(labels=TICKET))
    real_finish = attempts.finish
    failures = [OperationalError("UPDATE", None, Exception("database away"))] * 2

    def flaky(*args: Any) -> list[bool]:
        if failures:
            raise failures.pop()
        return real_finish(*args)

    monkeypatch.setattr(attempts, "finish", flaky)
    receiver = Slow()
    w = OutboxWorker(client.app[RUNNER], {"backlog": receiver}, settings.outbox, Metrics(), clock)
    w.start()
    try:
        await eventually(lambda: _all_delivered(client, 1))
    finally:
        await w.stop()
    assert failures == []
    assert receiver.sent == 1
