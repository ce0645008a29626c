"""Retention (lumen_bridge/store/retention.py, lumen_bridge/pruner.py): finished incidents,
notifications and events older than ``retention.max_age`` go, in bounded batches; what is
firing, recent, or still to be delivered stays. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Connection, func, select

from lumen_bridge.api.keys import CLOCK, METRICS, RUNNER, SETTINGS
from lumen_bridge.app import OUTBOX, create_app
from lumen_bridge.pruner import Pruner
from lumen_bridge.store import outbox, retention
from lumen_bridge.store.models import (
    AlertEvent,
    Base,
    DeliveryAttempt,
    Incident,
    Notification,
    OutboxStatus,
)
from lumen_bridge.store.retention import Pruned
from tests import helpers
from tests.conftest import AppFactory, FakeClock, make_settings, payload, post
from tests.servers import TicketServer, eventually

TICKET = {"severity": "ticket"}
INFO = {"severity": "info"}  # the default receiver, without a URL here: incidents, no outbox
NOTHING = dict.fromkeys(retention.TABLES, 0)
PAST_MAX_AGE = timedelta(days=31)  # the shipped max_age is 30 days


@pytest.fixture
async def tickets() -> AsyncIterator[TicketServer]:
    server = await TicketServer().start()
    yield server
    await server.close()


def pruner(client: TestClient[Any, Any], **retention_config: Any) -> Pruner:
    """A pruner on the app's runner, metrics and clock (the shipped retention unless told)."""
    app = client.app
    config = app[SETTINGS].retention.model_copy(update=retention_config)
    return Pruner(app[RUNNER], config, app[METRICS], app[CLOCK])


def pruned_total(client: TestClient[Any, Any], table: str) -> float | None:
    return client.app[METRICS].registry.get_sample_value(
        "lumen_bridge_pruned_total", {"table": table}
    )


async def counts(client: TestClient[Any, Any]) -> dict[str, int]:
    """Rows in every table retention deletes from."""

    def work(connection: Connection) -> dict[str, int]:
        tables = Base.metadata.tables
        return {
            table: int(connection.scalar(select(func.count()).select_from(tables[table])) or 0)
            for table in retention.TABLES
        }

    return await helpers.read(client, work)


async def identities(client: TestClient[Any, Any]) -> list[str]:
    return sorted(incident.identity for incident in await helpers.incidents(client))


def finished(client: TestClient[Any, Any], status: OutboxStatus, count: int) -> Any:
    """A check for :func:`eventually`: ``count`` outbox rows have ``status``."""

    async def check() -> bool:
        found = await helpers.rows(
            client, select(Notification.id).where(Notification.status == status)
        )
        return len(found) == count

    return check


def attempted(client: TestClient[Any, Any], count: int) -> Any:
    """A check for :func:`eventually`: ``count`` delivery attempts are recorded."""

    async def check() -> bool:
        return len(await helpers.rows(client, select(DeliveryAttempt.id))) == count

    return check


async def test_old_resolved_incidents_go_with_their_events_and_notifications(
    make_client: AppFactory, tickets: TicketServer, clock: FakeClock
) -> None:
    client = await make_client(deliver=True, LUMEN_TICKET_URL=tickets.url)
    await post(client, payload(fingerprint="old", labels=TICKET))
    await post(client, payload(fingerprint="firing", labels=TICKET))
    await eventually(finished(client, OutboxStatus.DELIVERED, 2))
    clock.advance(hours=1)
    await post(client, payload("resolved", fingerprint="old", labels=TICKET))
    await eventually(finished(client, OutboxStatus.DELIVERED, 3))
    clock.advance(days=20)
    await post(client, payload(fingerprint="recent", labels=TICKET))
    await post(client, payload("resolved", fingerprint="recent", labels=TICKET))
    await eventually(finished(client, OutboxStatus.DELIVERED, 5))
    clock.advance(days=11)  # "old" and the first three tickets are now 31 days old
    assert await counts(client) == {
        "incidents": 3,
        "alert_events": 5,
        "outbox": 5,
        "outbox_items": 5,
        "delivery_attempts": 5,
    }
    # a small batch: one notification (row, item, attempt) per transaction
    prune = pruner(client, batch=4)
    assert all(pruned_total(client, table) == 0 for table in retention.TABLES)

    pruned = await prune.prune_once(clock())

    # "old" with its two events and both its tickets go, and the open ticket of "firing"
    assert pruned == {
        "incidents": 1,
        "alert_events": 2,
        "outbox": 3,
        "outbox_items": 3,
        "delivery_attempts": 3,
    }
    assert await identities(client) == ["firing", "recent"]
    assert await counts(client) == {
        "incidents": 2,
        "alert_events": 3,
        "outbox": 2,
        "outbox_items": 2,
        "delivery_attempts": 2,
    }
    assert {table: pruned_total(client, table) for table in retention.TABLES} == pruned
    assert await prune.prune_once(clock()) == NOTHING
    assert {table: pruned_total(client, table) for table in retention.TABLES} == pruned


async def test_notifications_still_to_deliver_keep_their_incidents(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client()  # no delivery: the page e-mails wait
    await post(client, payload(fingerprint="waiting"))
    await post(client, payload("resolved", fingerprint="waiting"))
    lease_until = clock() + timedelta(minutes=2)
    await client.app[RUNNER].write(
        lambda connection: outbox.claim(connection, clock(), lease_until, 1, 100)
    )
    statuses = await helpers.rows(client, select(Notification.status).order_by(Notification.id))
    assert [status for (status,) in statuses] == ["in_flight", "pending"]
    clock.advance(days=365)
    before = await counts(client)
    assert before["incidents"] == 1
    assert before["alert_events"] == 2

    assert await pruner(client).prune_once(clock()) == NOTHING
    assert await counts(client) == before


async def test_dead_notifications_go_by_their_last_attempt(
    make_client: AppFactory, tickets: TicketServer, clock: FakeClock
) -> None:
    tickets.script = [(400, {}), (503, {}), (400, {})]
    client = await make_client(deliver=True, LUMEN_TICKET_URL=tickets.url)
    await post(client, payload(fingerprint="dead-at-once", labels=TICKET))
    await eventually(finished(client, OutboxStatus.DEAD, 1))
    await post(client, payload(fingerprint="dead-later", labels=TICKET))
    await eventually(attempted(client, 2))  # the 503 is recorded: retried after a backoff
    clock.advance(days=20)
    client.app[OUTBOX].wake()
    await eventually(finished(client, OutboxStatus.DEAD, 2))
    clock.advance(days=11)  # both rows were created 31 days ago; "dead-later" died 11 days ago

    pruned = await pruner(client).prune_once(clock())

    assert pruned == {**NOTHING, "outbox": 1, "outbox_items": 1, "delivery_attempts": 1}
    [(attempts,)] = await helpers.rows(client, select(Notification.attempts))
    assert attempts == 2  # the row that stays is "dead-later"'s
    assert await identities(client) == ["dead-at-once", "dead-later"]  # still firing


async def test_each_transaction_deletes_at_most_a_batch(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client()
    for _ in range(6):  # one incident with seven events: more than a batch on its own
        await post(client, payload(fingerprint="chatty", labels=INFO))
    await post(client, payload("resolved", fingerprint="chatty", labels=INFO))
    clock.advance(minutes=1)
    await post(client, payload(fingerprint="quiet", labels=INFO, n=5))
    await post(client, payload("resolved", fingerprint="quiet", labels=INFO, n=5))
    clock.advance(days=31)
    cutoff = clock() - timedelta(days=30)

    batches: list[Pruned] = []
    while not batches or any(batches[-1].values()):
        batches.append(
            await client.app[RUNNER].write(
                lambda connection: retention.prune_incidents(connection, cutoff, 7)
            )
        )

    # oldest first; the chatty one alone (8 rows), then two quiet ones (3 rows each) at most
    assert batches == [
        {"alert_events": 7, "incidents": 1},
        {"alert_events": 4, "incidents": 2},
        {"alert_events": 4, "incidents": 2},
        {"alert_events": 2, "incidents": 1},
        {"alert_events": 0, "incidents": 0},
    ]
    assert await counts(client) == NOTHING


async def test_unrouted_events_go_when_old(
    aiohttp_client: Any, db_url: str, clock: FakeClock
) -> None:
    shipped = make_settings(db_url)
    settings = shipped.model_copy(update={"routes": shipped.routes[:2]})  # no catch-all
    server = TestServer(create_app(settings, clock=clock, deliver=False))
    client: TestClient[Any, Any] = await aiohttp_client(server)
    await post(client, payload(fingerprint="nobody-1", labels=INFO))
    clock.advance(days=20)
    await post(client, payload(fingerprint="nobody-2", labels=INFO))
    clock.advance(days=11)

    pruned = await pruner(client).prune_once(clock())

    assert pruned == {**NOTHING, "alert_events": 1}
    kept = await helpers.rows(client, select(AlertEvent.fingerprint, AlertEvent.incident_id))
    assert [tuple(row) for row in kept] == [("nobody-2", None)]


async def test_the_task_prunes_at_start_and_stops_when_cancelled(
    make_client: AppFactory, clock: FakeClock
) -> None:
    client = await make_client()
    await post(client, payload(fingerprint="gone", labels=INFO))
    await post(client, payload("resolved", fingerprint="gone", labels=INFO))
    clock.advance(days=31)
    task = asyncio.create_task(pruner(client).run())

    await eventually(lambda: pruned_total(client, "incidents") == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await helpers.rows(client, select(Incident.id)) == []
