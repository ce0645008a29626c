"""Every error code of POST /webhook with a real request; none of them stores anything."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.exc import OperationalError

from lumen_bridge.api.keys import INGEST, RUNNER
from lumen_bridge.config import DatabaseConfig
from lumen_bridge.store.database import open_runner
from tests.conftest import ADMIN_TOKEN, ALERT_TOKEN, AppFactory, auth, fixture, payload
from tests.helpers import count_events, incidents

JSON = {"Content-Type": "application/json"}


async def expect_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert ALERT_TOKEN not in json.dumps(body)
    return body


@pytest.fixture
async def nothing_stored(client: TestClient[Any, Any]) -> Any:
    yield
    assert await incidents(client) == []
    assert await count_events(client) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {ALERT_TOKEN}"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_401_without_the_token(
    client: TestClient[Any, Any], nothing_stored: None, headers: dict[str, str]
) -> None:
    response = await client.post("/webhook", json=payload(), headers=headers)
    await expect_error(response, 401)


async def test_400_body_not_json(client: TestClient[Any, Any], nothing_stored: None) -> None:
    response = await client.post("/webhook", data=b"{not json", headers=auth() | JSON)
    await expect_error(response, 400)


async def test_415_wrong_content_type(client: TestClient[Any, Any], nothing_stored: None) -> None:
    response = await client.post(
        "/webhook",
        data=json.dumps(payload()),
        headers=auth() | {"Content-Type": "text/plain"},
    )
    await expect_error(response, 415)


async def test_413_over_the_limit(client: TestClient[Any, Any], nothing_stored: None) -> None:
    body = b'{"pad": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = await client.post("/webhook", data=io.BytesIO(body), headers=auth() | JSON)
    await expect_error(response, 413)


async def test_413_chunked_body_over_the_limit(
    client: TestClient[Any, Any], nothing_stored: None
) -> None:
    async def chunks() -> Any:
        for _ in range(5):
            yield b"x" * (1024 * 1024)

    response = await client.post("/webhook", data=chunks(), headers=auth() | JSON)
    await expect_error(response, 413)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda b: b.update(version="3"), ["version"]),
        (lambda b: b.pop("alerts"), ["alerts"]),
        (lambda b: b["alerts"][0].update(status="pending"), ["alerts", 0, "status"]),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), ["alerts", 0, "startsAt"]),
        (lambda b: b["alerts"][0].update(labels={}), ["alerts", 0, "labels"]),
        (lambda b: b["alerts"][0]["labels"].update(x=5), ["alerts", 0, "labels", "x"]),
    ],
    ids=["version", "no-alerts", "status", "startsAt", "no-labels", "label-not-string"],
)
async def test_422_schema_violations_name_the_field(
    client: TestClient[Any, Any], nothing_stored: None, mutate: Any, loc: list[Any]
) -> None:
    body = payload()
    mutate(body)
    response = await client.post("/webhook", json=body, headers=auth())
    error = await expect_error(response, 422)
    assert loc in [d["loc"] for d in error["details"]]
    assert all(isinstance(d["msg"], str) for d in error["details"])


async def test_422_json_that_is_not_an_object(
    client: TestClient[Any, Any], nothing_stored: None
) -> None:
    response = await client.post("/webhook", data=b"[1, 2]", headers=auth() | JSON)
    await expect_error(response, 422)


@pytest.mark.parametrize("writer", ["process", "thread"])
async def test_bad_bodies_among_good_ones_are_refused_alone(
    make_client: AppFactory, writer: str
) -> None:
    """Bodies are parsed where their batch is decided: each bad one still gets its own
    4xx, and the webhooks committed with it their 200s."""
    client = await make_client(LUMEN_DATABASE_WRITER=writer)
    bad = payload(fingerprint="bad")
    bad["alerts"][0]["status"] = "pending"
    good = [payload(fingerprint=f"good-{i}") for i in range(8)]
    responses = await asyncio.gather(
        client.post("/webhook", json=good[0], headers=auth()),
        client.post("/webhook", data=b"{not json", headers=auth() | JSON),
        client.post("/webhook", json=bad, headers=auth()),
        *(client.post("/webhook", json=body, headers=auth()) for body in good[1:]),
    )
    assert [r.status for r in responses] == [200, 400, 422] + [200] * 7
    error = await responses[2].json()
    assert ["alerts", 0, "status"] in [d["loc"] for d in error["details"]]
    assert [(await r.json())["queued"] for r in responses if r.status == 200] == [1] * 8
    assert sorted(i.identity for i in await incidents(client)) == sorted(
        f"good-{i}" for i in range(8)
    )


async def test_503_when_the_database_cannot_take_the_write(make_client: AppFactory) -> None:
    client = await make_client(LUMEN_DATABASE_WRITER="thread")  # its pipeline can be cut off
    unreachable = DatabaseConfig(url="postgresql+asyncpg://nobody@127.0.0.1:9/none")
    pipeline = client.app[INGEST].pipeline
    working = pipeline.runner
    pipeline.runner = dead = open_runner(unreachable)
    try:
        response = await client.post("/webhook", json=payload(), headers=auth())
        await expect_error(response, 503)
    finally:
        pipeline.runner = working
        await dead.close()
    assert await incidents(client) == []
    assert await count_events(client) == 0


@pytest.mark.parametrize("name", ["firing_page.json", "firing_ticket.json", "resolved_page.json"])
async def test_real_captures_are_accepted(client: TestClient[Any, Any], name: str) -> None:
    body = fixture(name)
    body["someFutureField"] = {"x": 1}  # unknown fields are tolerated
    response = await client.post("/webhook", json=body, headers=auth())
    assert response.status == 200, await response.text()


async def test_webhook_codes_are_counted(client: TestClient[Any, Any]) -> None:
    await client.post("/webhook", json=payload(), headers=auth())
    await client.post("/webhook", json=payload(), headers={})
    text = await (await client.get("/metrics")).text()
    assert 'lumen_bridge_webhook_requests_total{code="200"} 1.0' in text
    assert 'lumen_bridge_webhook_requests_total{code="401"} 1.0' in text
    assert 'lumen_bridge_alerts_received_total{status="firing"} 2.0' not in text
    assert 'lumen_bridge_alerts_received_total{status="firing"} 1.0' in text


async def test_no_token_configured_means_open_webhook(make_client: AppFactory) -> None:
    client = await make_client(LUMEN_ALERT_TOKEN="")
    response = await client.post("/webhook", json=payload())
    assert response.status == 200


async def test_long_label_values_are_stored(client: TestClient[Any, Any]) -> None:
    """Label values have no length limit in Alertmanager; PostgreSQL must not refuse them."""
    body = payload(labels={"alertname": "A" * 5000, "severity": "page" + " " * 3000})
    response = await client.post("/webhook", json=body, headers=auth())
    assert response.status == 200, await response.text()


async def test_admin_reads_answer_503_while_the_database_is_away(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away(work: Any) -> Any:
        raise OperationalError("SELECT", None, Exception("connection refused"))

    monkeypatch.setattr(client.app[RUNNER], "read", away)
    response = await client.get("/incidents", headers=auth(ADMIN_TOKEN))
    await expect_error(response, 503)
