"""What an operator reads in the log at the default level: rejected webhooks (rate-limited,
never a token nor a body), each delivery's outcome, silences created and expired."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from lumen_bridge.api.keys import INGEST
from lumen_bridge.app import OUTBOX
from lumen_bridge.config import DatabaseConfig
from lumen_bridge.ingest import RejectionLog
from lumen_bridge.ingest.rejections import PER_WINDOW
from lumen_bridge.store.database import open_runner
from tests.conftest import ADMIN_TOKEN, ALERT_TOKEN, AppFactory, FakeClock, auth, payload, post
from tests.servers import TicketServer, eventually

JSON = {"Content-Type": "application/json"}
MARKER = "body-marker-7f3a"  # in every body sent: it must never reach the log
Logs = list[dict[str, Any]]


@pytest.fixture
def logs() -> Iterator[Logs]:
    with capture_logs() as captured:
        yield captured


def events(logs: Logs, name: str) -> Logs:
    return [entry for entry in logs if entry["event"] == name]


def marked(status: str = "firing", **labels: str) -> dict[str, Any]:
    return payload(status, labels={"marker": MARKER, **labels})


async def test_each_rejected_webhook_is_logged_with_its_reason_and_peer(
    client: TestClient[Any, Any], logs: Logs
) -> None:
    body = json.dumps(marked()).encode()
    not_v4 = marked()
    not_v4["version"] = "3"
    sent = [
        client.post("/webhook", data=body, headers={"Authorization": "Bearer wrong-token"} | JSON),
        client.post("/webhook", data=body, headers=auth() | {"Content-Type": "text/plain"}),
        client.post(
            "/webhook", data=io.BytesIO(b"x" * (4 * 1024 * 1024 + 1)), headers=auth() | JSON
        ),
        client.post("/webhook", data=b"{" + MARKER.encode(), headers=auth() | JSON),
        client.post("/webhook", json=not_v4, headers=auth()),
    ]
    statuses = [(await request).status for request in sent]
    assert statuses == [401, 415, 413, 400, 422]
    rejected = events(logs, "webhook rejected")
    assert [(e["status"], e["log_level"]) for e in rejected] == [
        (401, "info"),
        (415, "info"),
        (413, "info"),
        (400, "info"),
        (422, "info"),
    ]
    assert [e["reason"] for e in rejected] == [
        "missing or wrong bearer token",
        "Content-Type must be application/json",
        f"body larger than the limit of {4 * 1024 * 1024} bytes",
        "body is not valid JSON",
        "not a valid Alertmanager webhook (version 4)",
    ]
    assert {e["peer"] for e in rejected} == {"127.0.0.1"}
    written = repr(logs)
    assert "wrong-token" not in written and ALERT_TOKEN not in written
    assert MARKER not in written


async def test_an_accepted_webhook_logs_nothing_at_info(
    client: TestClient[Any, Any], logs: Logs
) -> None:
    await post(client, marked())
    assert [e for e in logs if e["log_level"] != "debug"] == []


async def test_a_flood_of_rejections_is_cut_to_a_few_lines(
    client: TestClient[Any, Any], logs: Logs
) -> None:
    bad = {"Authorization": f"Bearer {ALERT_TOKEN}-but-wrong"} | JSON
    answers = await asyncio.gather(
        *(client.post("/webhook", data=b"{}", headers=bad) for _ in range(4 * PER_WINDOW))
    )
    assert {answer.status for answer in answers} == {401}
    assert len(events(logs, "webhook rejected")) == PER_WINDOW
    # another reason has its own allowance
    response = await client.post("/webhook", data=b"{}", headers=auth() | {"Content-Type": "x/y"})
    assert response.status == 415
    assert len(events(logs, "webhook rejected")) == PER_WINDOW + 1
    assert ALERT_TOKEN not in repr(logs)


async def test_left_out_rejections_are_counted_in_one_line() -> None:
    rejections = RejectionLog(per_window=3, window=0.3)
    with capture_logs() as logs:
        for _ in range(10):
            rejections.rejected(401, "missing or wrong bearer token", "10.0.0.1", None)
        rejections.rejected(415, "Content-Type must be application/json", "10.0.0.2", None)
        assert [e["status"] for e in events(logs, "webhook rejected")] == [401, 401, 401, 415]
        await eventually(lambda: bool(events(logs, "webhook rejections left out of the log")))
        (summary,) = events(logs, "webhook rejections left out of the log")
        assert (summary["status"], summary["left_out"], summary["log_level"]) == (401, 7, "warning")
        # a new window: logged again
        rejections.rejected(401, "missing or wrong bearer token", "10.0.0.1", None)
        assert len(events(logs, "webhook rejected")) == 5


async def test_the_rate_limit_keeps_one_counter_per_reason() -> None:
    """O(1): one window per reason, whatever the number of rejections."""
    rejections = RejectionLog(per_window=2, window=60.0)
    with capture_logs() as logs:
        for _ in range(200_000):
            rejections.rejected(401, "missing or wrong bearer token", "10.0.0.1", None)
    assert len(logs) == 2
    assert len(rejections._windows) == 1


async def test_a_503_is_logged_with_the_database_error(make_client: AppFactory, logs: Logs) -> None:
    client = await make_client(LUMEN_DATABASE_WRITER="thread")  # its pipeline can be cut off
    pipeline = client.app[INGEST].pipeline
    working = pipeline.runner
    pipeline.runner = dead = open_runner(
        DatabaseConfig(url="postgresql+asyncpg://nobody:pw-in-url@127.0.0.1:9/none")
    )
    try:
        response = await client.post("/webhook", json=marked(), headers=auth())
    finally:
        pipeline.runner = working
        await dead.close()
    assert response.status == 503
    (line,) = events(logs, "webhook rejected")
    assert (line["status"], line["log_level"]) == (503, "warning")
    assert line["reason"] == "database unavailable; retry later"
    assert "Connect call failed" in line["error"]
    assert MARKER not in repr(logs) and "pw-in-url" not in repr(logs)


@pytest.fixture
async def tickets() -> AsyncIterator[TicketServer]:
    server = await TicketServer(script=[(503, {})]).start()
    yield server
    await server.close()


async def test_each_delivery_outcome_is_logged_at_info_or_above(
    make_client: AppFactory, tickets: TicketServer, clock: FakeClock, logs: Logs
) -> None:
    client = await make_client(deliver=True, LUMEN_TICKET_URL=tickets.url)
    await post(client, marked(severity="ticket"))
    await eventually(lambda: bool(events(logs, "delivery failed, will retry")), within=30)
    clock.advance(minutes=10)  # the retry falls due
    client.app[OUTBOX].wake()
    await eventually(lambda: bool(events(logs, "delivered")), within=30)
    (retry,) = events(logs, "delivery failed, will retry")
    (delivered,) = events(logs, "delivered")
    assert retry["log_level"] == "warning"
    assert (retry["attempt"], retry["status_code"]) == (1, 503)
    assert delivered["log_level"] == "info"
    for line in (retry, delivered):
        assert line["receiver"] == "backlog"
        assert line["action"] == "open"
        assert line["incident_ids"] == [1] and line["alerts"] == 1
    assert (retry["latency_s"], delivered["latency_s"]) == (0.0, 600.0)  # since it was decided
    assert delivered["attempt"] == 2 and delivered["result"] == "delivered"
    assert MARKER not in repr(logs)


async def test_silences_created_and_expired_are_logged_with_their_author(
    client: TestClient[Any, Any], logs: Logs
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {
        "matchers": [{"name": "alertname", "value": "LumenStageFailed", "isRegex": False}],
        "duration": "2h",
        "createdBy": "alice",
        "comment": "maintenance",
    }
    created = await client.post("/silence", json=body, headers=admin)
    assert created.status == 201
    silence = await created.json()
    expired = await client.delete(f"/silence/{silence['id']}", headers=admin)
    assert expired.status == 200
    (made,) = events(logs, "silence created")
    (ended,) = events(logs, "silence expired")
    for line in (made, ended):
        assert line["log_level"] == "info"
        assert line["silence_id"] == silence["id"]
        assert line["created_by"] == "alice"
        assert "LumenStageFailed" in str(line["matchers"])
    assert made["ends_at"] == silence["endsAt"].replace("Z", "+00:00")
    assert ended["ends_at"] < made["ends_at"]
    assert ADMIN_TOKEN not in repr(logs)
