"""GET /incidents, /incidents/{id}, /healthz, /readyz, /metrics, /openapi.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from lumen_bridge.api.keys import RUNNER
from lumen_bridge.api.openapi import build_spec
from lumen_bridge.store.migrate import head_revision
from tests.conftest import ADMIN_TOKEN, FakeClock, auth, payload, post

HEAD = head_revision()
ADMIN = auth(ADMIN_TOKEN)
DOCS = Path(__file__).parent.parent / "docs" / "openapi.json"


async def get_json(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path, headers=ADMIN)
    assert response.status == status, await response.text()
    return await response.json()


async def test_incidents_most_recent_first_with_filters(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await post(client, payload(fingerprint="a"))
    clock.advance(minutes=1)
    await post(client, payload(fingerprint="b", labels={"severity": "ticket"}))
    clock.advance(minutes=1)
    await post(client, payload("resolved", fingerprint="a"))

    listed = (await get_json(client, "/incidents"))["incidents"]
    assert [i["fingerprint"] for i in listed] == ["a", "b"]
    firing = (await get_json(client, "/incidents?status=firing"))["incidents"]
    assert [i["fingerprint"] for i in firing] == ["b"]
    by_receiver = (await get_json(client, "/incidents?receiver=oncall"))["incidents"]
    assert [i["fingerprint"] for i in by_receiver] == ["a"]
    assert len((await get_json(client, "/incidents?limit=1"))["incidents"]) == 1
    assert len((await get_json(client, "/incidents?limit=5000"))["incidents"]) == 2


async def test_incidents_bad_queries_are_400(client: TestClient[Any, Any]) -> None:
    for query in ("status=open", "limit=0", "limit=lots"):
        body = await get_json(client, f"/incidents?{query}", status=400)
        assert body["error"]
    assert (await get_json(client, "/incidents/abc", status=400))["error"]
    assert (await get_json(client, "/incidents/999", status=404))["error"]


async def test_incidents_need_the_admin_token(client: TestClient[Any, Any]) -> None:
    for path in ("/incidents", "/incidents/1"):
        assert (await client.get(path)).status == 401
        assert (await client.get(path, headers=auth())).status == 401  # alert token is not admin


async def test_incident_timeline(client: TestClient[Any, Any], clock: FakeClock) -> None:
    await post(client, payload())
    clock.advance(seconds=5)
    await post(client, payload())
    clock.advance(seconds=5)
    await post(client, payload("resolved"))
    detail = await get_json(client, "/incidents/1")
    assert detail["status"] == "resolved"
    assert detail["occurrences"] == 2
    assert detail["dedup_key"] == "lumen-1"
    kinds = [
        (e["type"], e["status"], e["detail"].get("outcome") or e["detail"]["action"])
        for e in detail["timeline"]
    ]
    assert kinds == [
        ("alert", "firing", "queued"),
        ("notification", "pending", "open"),
        ("alert", "firing", "deduplicated"),
        ("alert", "resolved", "queued"),
        ("notification", "pending", "resolve"),
    ]


async def test_health_and_readiness(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["schema"] == HEAD == "0004"
    runner = client.app[RUNNER]
    await runner.write(lambda c: c.execute(text("UPDATE alembic_version SET version_num = 'old'")))
    try:
        not_ready = await client.get("/readyz")
        assert not_ready.status == 503
        assert "schema" in (await not_ready.json())["error"]
    finally:
        await runner.write(
            lambda c: c.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": HEAD}
            )
        )


async def test_metrics_has_the_contract_names(client: TestClient[Any, Any]) -> None:
    await post(client, payload(n=2))
    await post(client, payload(n=2))
    text_ = await (await client.get("/metrics")).text()
    for name in (
        "lumen_bridge_webhook_requests_total",
        "lumen_bridge_alerts_received_total",
        "lumen_bridge_alerts_deduplicated_total",
        "lumen_bridge_alerts_suppressed_total",
        "lumen_bridge_notifications_total",
        "lumen_bridge_notification_latency_seconds",
        "lumen_bridge_outbox_pending",
        "lumen_bridge_outbox_oldest_age_seconds",
        "lumen_bridge_incidents_open",
        "lumen_alert_suppressed",
        "lumen_bridge_build_info",
    ):
        assert f"# TYPE {name}" in text_ or f"# TYPE {name.removesuffix('_total')}" in text_
    assert "lumen_bridge_incidents_open 2.0" in text_
    assert "lumen_bridge_outbox_pending 1.0" in text_  # one e-mail for the two alerts
    assert "lumen_bridge_alerts_deduplicated_total 2.0" in text_
    assert "lumen_alert_suppressed 0.0" in text_


async def test_openapi_is_served_and_shipped(client: TestClient[Any, Any]) -> None:
    served = await (await client.get("/openapi.json")).json()
    assert served["openapi"].startswith("3.1")
    assert {"/webhook", "/incidents", "/incidents/{id}", "/readyz"} <= set(served["paths"])
    assert served == build_spec()
    assert json.loads(DOCS.read_text()) == served, (
        "docs/openapi.json is stale: python -m lumen_bridge.api.openapi > docs/openapi.json"
    )
