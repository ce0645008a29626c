"""The ticket lifecycle and the default webhook against a recording aiohttp server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Row, select

from lumen_bridge.app import OUTBOX, create_app
from lumen_bridge.config import TicketReceiver
from lumen_bridge.domain.alertmanager import WebhookPayload
from lumen_bridge.store.models import DeliveryAttempt, Notification
from tests.conftest import ADMIN_TOKEN, AppFactory, FakeClock, auth, make_settings, payload, post
from tests.helpers import rows
from tests.servers import TicketServer, eventually

TICKET = {"severity": "ticket"}
TICKET_TOKEN = "ticket-token-for-tests"
CONTRACT_KEYS = {
    "version", "action", "dedup_key", "incident_id", "status", "severity", "title", "summary",
    "description", "runbook_url", "labels", "annotations", "starts_at", "ends_at", "occurrences",
    "generator_url", "alertmanager_url",
}  # fmt: skip


@pytest.fixture
async def tickets() -> AsyncIterator[TicketServer]:
    server = await TicketServer().start()
    yield server
    await server.close()


async def ticketing(make_client: AppFactory, server: TicketServer) -> TestClient[Any, Any]:
    return await make_client(
        deliver=True, LUMEN_TICKET_URL=server.url, LUMEN_TICKET_TOKEN=TICKET_TOKEN
    )


async def attempts(client: TestClient[Any, Any]) -> list[tuple[str, int | None]]:
    found = await rows(
        client,
        select(DeliveryAttempt.result, DeliveryAttempt.status_code).order_by(DeliveryAttempt.id),
    )
    return [(r, c) for r, c in found]


async def outbox(client: TestClient[Any, Any]) -> list[Row[Any]]:
    return list(await rows(client, select(Notification).order_by(Notification.id)))


def recorded(client: TestClient[Any, Any], count: int) -> Any:
    async def check() -> bool:
        return len(await attempts(client)) == count

    return check


async def scrape(client: TestClient[Any, Any]) -> str:
    response = await client.get("/metrics")
    return await response.text()


async def test_ticket_open_then_resolve_share_one_dedup_key(
    make_client: AppFactory, tickets: TicketServer, clock: FakeClock
) -> None:
    client = await ticketing(make_client, tickets)
    await post(client, payload(labels=TICKET))
    await eventually(recorded(client, 1))
    clock.advance(minutes=2)
    await post(client, payload(labels=TICKET))  # a repeat: nothing
    clock.advance(minutes=2)
    await post(client, payload("resolved", labels=TICKET))
    await eventually(recorded(client, 2))
    opened, resolved = tickets.requests
    assert [opened.body["action"], resolved.body["action"]] == ["open", "resolve"]
    assert opened.body["dedup_key"] == resolved.body["dedup_key"] == "lumen-1"
    assert opened.headers["Idempotency-Key"] != resolved.headers["Idempotency-Key"]
    assert opened.headers["Authorization"] == f"Bearer {TICKET_TOKEN}"
    assert opened.headers["Content-Type"] == "application/json"
    body = opened.body
    assert set(body) == CONTRACT_KEYS
    assert body["version"] == "1"
    assert (body["status"], body["severity"], body["incident_id"]) == ("firing", "ticket", "1")
    assert body["title"] == "LumenIntegrityMismatch (instance=remote-a, n=0)"
    assert body["summary"] == "Remote integrity mismatch on remote-a"
    assert body["runbook_url"] == "https://runbooks.example/lumen/integrity"
    assert body["ends_at"] is None and body["starts_at"].startswith("2026-11-26T11:53:38")
    assert body["occurrences"] == 1
    assert body["alertmanager_url"] == "http://vm:9093"
    assert resolved.body["status"] == "resolved"
    assert resolved.body["ends_at"].startswith("2026-11-26T12:30:00")
    assert resolved.body["occurrences"] == 2


async def test_500_500_200_delivers_on_the_third_try_with_one_key(
    make_client: AppFactory, tickets: TicketServer, clock: FakeClock
) -> None:
    tickets.script = [(500, {}), (503, {})]
    client = await ticketing(make_client, tickets)
    await post(client, payload(labels=TICKET))
    for tries in (1, 2):
        await eventually(recorded(client, tries))
        clock.advance(seconds=1)  # past the first backoffs (0.25-0.5 s, then 0.5-1 s)
        client.app[OUTBOX].wake()
    await eventually(recorded(client, 3))
    assert await attempts(client) == [("retry", 500), ("retry", 503), ("delivered", 200)]
    assert len({r.headers["Idempotency-Key"] for r in tickets.requests}) == 1
    assert len(tickets.requests) == 3
    [row] = await outbox(client)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    detail = await (await client.get("/incidents/1", headers=auth(ADMIN_TOKEN))).json()
    [notification] = [e for e in detail["timeline"] if e["type"] == "notification"]
    assert [a["result"] for a in notification["attempts"]] == ["retry", "retry", "delivered"]
    metrics = await scrape(client)
    assert 'lumen_bridge_notifications_total{receiver="backlog",result="retry"} 2.0' in metrics
    assert 'lumen_bridge_notifications_total{receiver="backlog",result="delivered"} 1.0' in metrics
    assert "lumen_bridge_notification_latency_seconds_count 1.0" in metrics
    assert "lumen_bridge_outbox_pending 0.0" in metrics


async def test_429_waits_retry_after(
    make_client: AppFactory, tickets: TicketServer, clock: FakeClock
) -> None:
    tickets.script = [(429, {"Retry-After": "7"})]
    client = await ticketing(make_client, tickets)
    await post(client, payload(labels=TICKET))
    await eventually(recorded(client, 1))
    [row] = await outbox(client)
    assert row.status == "pending"
    assert row.next_attempt_at - clock.now == timedelta(seconds=7)
    metrics = await scrape(client)
    assert "lumen_bridge_outbox_pending 1.0" in metrics
    clock.advance(seconds=30)
    assert "lumen_bridge_outbox_oldest_age_seconds 30.0" in await scrape(client)
    client.app[OUTBOX].wake()
    await eventually(recorded(client, 2))
    assert await attempts(client) == [("retry", 429), ("delivered", 200)]


async def test_400_is_one_attempt_then_dead(make_client: AppFactory, tickets: TicketServer) -> None:
    tickets.script = [(400, {})]
    client = await ticketing(make_client, tickets)
    await post(client, payload(labels=TICKET))
    await eventually(recorded(client, 1))
    assert await attempts(client) == [("dead", 400)]
    [row] = await outbox(client)
    assert row.status == "dead"
    assert row.last_error is not None and row.last_error.startswith("HTTP 400")
    detail = await (await client.get("/incidents/1", headers=auth(ADMIN_TOKEN))).json()
    [notification] = [e for e in detail["timeline"] if e["type"] == "notification"]
    assert notification["status"] == "dead"
    assert notification["detail"]["last_error"].startswith("HTTP 400")
    metrics = await scrape(client)
    assert "lumen_bridge_outbox_dead 1.0" in metrics
    assert 'lumen_bridge_notifications_total{receiver="backlog",result="dead"} 1.0' in metrics
    assert len(tickets.requests) == 1


async def test_a_dead_ticket_is_sent_again_on_request(
    make_client: AppFactory, tickets: TicketServer
) -> None:
    tickets.script = [(400, {})]
    client = await ticketing(make_client, tickets)
    await post(client, payload(labels=TICKET))
    await eventually(recorded(client, 1))
    admin = auth(ADMIN_TOKEN)
    assert (await client.post("/notifications/1/resend")).status == 401
    resent = await client.post("/notifications/1/resend", headers=admin)
    assert resent.status == 201, await resent.text()
    dead, _copy = await outbox(client)
    assert (await resent.json())["idempotency_key"] == f"{dead.idempotency_key}-resend-1"
    await eventually(recorded(client, 2))  # the copy is delivered: the server now says 200
    keys = [r.headers["Idempotency-Key"] for r in tickets.requests]
    assert keys == [dead.idempotency_key, f"{dead.idempotency_key}-resend-1"]
    again = await client.post("/notifications/1/resend", headers=admin)  # a second copy
    assert (await again.json())["idempotency_key"].endswith("-resend-2")
    delivered = await client.post("/notifications/2/resend", headers=admin)
    assert delivered.status == 409  # not dead
    assert (await client.post("/notifications/99/resend", headers=admin)).status == 404


async def test_a_hanging_ticket_system_times_out_and_is_retried(
    aiohttp_client: Any, db_url: str, tickets: TicketServer, clock: FakeClock
) -> None:
    tickets.script = ["hang"]
    settings = make_settings(db_url, LUMEN_TICKET_URL=tickets.url)
    receivers = [
        r.model_copy(update={"timeout": timedelta(seconds=0.2)})
        if isinstance(r, TicketReceiver)
        else r
        for r in settings.receivers
    ]
    settings = settings.model_copy(update={"receivers": receivers})
    client = await aiohttp_client(create_app(settings, clock=clock))
    await post(client, payload(labels=TICKET))
    await eventually(recorded(client, 1))
    [row] = await outbox(client)
    assert row.status == "pending"
    assert row.last_error == "timed out after 0.2s"
    clock.advance(seconds=1)
    client.app[OUTBOX].wake()
    await eventually(recorded(client, 2))
    assert await attempts(client) == [("retry", None), ("delivered", 200)]


async def test_default_webhook_forwards_the_alert(
    make_client: AppFactory, tickets: TicketServer
) -> None:
    client = await make_client(
        deliver=True, LUMEN_DEFAULT_WEBHOOK_URL=tickets.url, LUMEN_DEFAULT_WEBHOOK_TOKEN="hook"
    )
    await post(client, payload(labels={"severity": "info"}))
    await eventually(recorded(client, 1))
    [request] = tickets.requests
    assert request.headers["Authorization"] == "Bearer hook"
    forwarded = WebhookPayload.model_validate(request.body)  # Alertmanager's own shape
    [alert] = forwarded.alerts
    assert (alert.status, alert.labels["severity"], alert.fingerprint) == ("firing", "info", "f00d")
    assert forwarded.receiver == "default"
    assert request.body["lumen"]["action"] == "open"


async def test_two_workers_on_one_database_never_deliver_a_row_twice(
    aiohttp_client: Any, db_url: str, clock: FakeClock, tickets: TicketServer
) -> None:
    settings = make_settings(db_url, LUMEN_TICKET_URL=tickets.url)
    filler = await aiohttp_client(create_app(settings, clock=clock, deliver=False))
    assert (await post(filler, payload(labels=TICKET, n=60)))["queued"] == 60
    tickets.delay = 0.01  # deliveries overlap with the other worker's claims
    first = await aiohttp_client(create_app(settings, clock=clock))
    second = await aiohttp_client(create_app(settings, clock=clock))
    await eventually(recorded(first, 60), within=30)
    keys = [r.headers["Idempotency-Key"] for r in tickets.requests]
    assert len(keys) == len(set(keys)) == 60
    assert {row.status for row in await outbox(second)} == {"delivered"}
    assert {row.attempts for row in await outbox(second)} == {1}
    delivered = [await scrape(c) for c in (first, second)]
    counts = [_delivered_count(m) for m in delivered]
    assert sum(counts) == 60


def _delivered_count(metrics: str) -> float:
    prefix = 'lumen_bridge_notifications_total{receiver="backlog",result="delivered"} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


async def test_a_ticket_links_the_console_when_the_bridge_knows_its_address(
    make_client: AppFactory, tickets: TicketServer
) -> None:
    client = await make_client(
        deliver=True, LUMEN_TICKET_URL=tickets.url, LUMEN_EXTERNAL_URL="https://lumen.example.com"
    )
    await post(client, payload(labels=TICKET))
    await eventually(lambda: len(tickets.requests) == 1)
    body = tickets.requests[0].body
    assert set(body) == CONTRACT_KEYS | {"incident_url", "silence_url"}
    assert body["incident_url"] == "https://lumen.example.com/ui/incidents/1"
    assert body["silence_url"].startswith("https://lumen.example.com/ui/silences?matchers=")
