"""Alertmanager's silence API (``/api/v2``), judged by the real client: Debian's amtool, and
the requests a Grafana Alertmanager data source makes."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN, AppFactory, FakeClock, payload, post
from tests.helpers import item_actions
from tests.test_silence_api import ADMIN, NOWHERE

pytestmark = pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool (Debian's prometheus-alertmanager) is missing"
)


class WallClock(FakeClock):
    """The real time: amtool stamps its silences with it."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
def clock() -> FakeClock:
    return WallClock()


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(**NOWHERE)


@pytest.fixture
def amtool(client: TestClient[Any, Any], tmp_path: Path) -> Any:
    """Run amtool against the bridge, with the admin token; return its stdout (must exit 0)."""
    http_config = tmp_path / "http.yml"
    http_config.write_text(f"authorization:\n  type: Bearer\n  credentials: {ADMIN_TOKEN}\n")
    url = str(client.make_url("/"))

    async def run(*args: str, ok: bool = True, token: bool = True) -> str:
        auth = [f"--http.config.file={http_config}"] if token else []
        process = await asyncio.create_subprocess_exec(
            "amtool",
            f"--alertmanager.url={url}",
            *auth,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        if ok:
            assert process.returncode == 0, err.decode()
        return out.decode() if ok else err.decode()

    return run


async def test_amtool_adds_queries_and_expires_silences(
    client: TestClient[Any, Any], amtool: Any
) -> None:
    silence_id = (
        await amtool("silence", "add", "alertname=Foo", 'env=~"prod|stage"', "--comment=deploy")
    ).strip()
    await amtool("silence", "add", "alertname=Bar", "--comment=other", "-d", "30m")
    assert len(silence_id) == 36

    listed = json.loads(await amtool("silence", "query", "-o", "json"))
    assert {s["id"] for s in listed} >= {silence_id}
    [foo] = json.loads(await amtool("silence", "query", "-o", "json", "alertname=Foo"))
    assert foo["id"] == silence_id
    assert foo["status"]["state"] == "active"
    assert {"name": "env", "value": "prod|stage", "isRegex": True, "isEqual": True} in foo[
        "matchers"
    ]
    assert silence_id in await amtool("silence", "query")  # the table

    # one store: the bridge's own API sees the same silence
    response = await client.get(f"/silence/{silence_id}", headers=ADMIN)
    assert (await response.json())["matchers"] == foo["matchers"]

    await amtool("silence", "expire", silence_id)
    assert silence_id not in await amtool("silence", "query", "-q")
    assert silence_id in await amtool("silence", "query", "--expired", "-q")


async def test_a_silence_made_with_amtool_holds_and_its_end_replays(
    client: TestClient[Any, Any], amtool: Any
) -> None:
    silence_id = (
        await amtool("silence", "add", "alertname=LumenIntegrityMismatch", "--comment=known")
    ).strip()
    answer = await post(client, payload())
    assert (answer["queued"], answer["suppressed"]) == (0, 1)

    [alert] = json.loads(await amtool("alert", "query", "-s", "-o", "json"))
    assert alert["status"] == {
        "state": "suppressed",
        "silencedBy": [silence_id],
        "inhibitedBy": [],
    }
    assert alert["receivers"] == [{"name": "oncall"}]
    assert json.loads(await amtool("alert", "query", "-o", "json")) == []  # active only

    await amtool("silence", "expire", silence_id)
    assert await item_actions(client) == ["open"]  # what it held is sent, once
    [alert] = json.loads(await amtool("alert", "query", "-o", "json"))
    assert alert["status"]["state"] == "active"


async def test_bad_requests_are_refused_with_a_reason(
    client: TestClient[Any, Any], amtool: Any
) -> None:
    assert "401" in await amtool("silence", "query", ok=False, token=False)
    # amtool checks the syntax itself; a matcher that matches the empty string is the bridge's
    error = await amtool("silence", "add", 'env=~".*"', "--comment=bad", ok=False)
    assert "400" in error
    assert "must not match the empty string" in error
    assert "404" in await amtool(
        "silence", "expire", "00000000-0000-0000-0000-000000000000", ok=False
    )


def _silence(ends: timedelta, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "matchers": [{"name": "alertname", "value": "Foo", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + ends).isoformat(),
        "createdBy": "grafana",
        "comment": "from Grafana",
        **extra,
    }


async def test_the_requests_grafana_makes(client: TestClient[Any, Any]) -> None:
    """A Grafana Alertmanager data source (implementation: Prometheus) checks the status,
    lists silences, creates one (``id`` empty), extends it (its ``id``) and expires it."""
    status = await client.get("/api/v2/status", headers=ADMIN)
    assert status.status == 200
    assert {"cluster", "versionInfo", "config", "uptime"} <= set(await status.json())

    created = await client.post(
        "/api/v2/silences", json=_silence(timedelta(hours=1), id=""), headers=ADMIN
    )
    assert created.status == 200, await created.text()
    silence_id = (await created.json())["silenceID"]

    extended = await client.post(
        "/api/v2/silences", json=_silence(timedelta(hours=3), id=silence_id), headers=ADMIN
    )
    assert (await extended.json())["silenceID"] == silence_id  # same matchers: in place
    [listed] = await (await client.get("/api/v2/silences", headers=ADMIN)).json()
    assert listed["id"] == silence_id
    ends = datetime.fromisoformat(listed["endsAt"])
    assert ends - datetime.now(UTC) > timedelta(hours=2)

    changed = _silence(timedelta(hours=1), id=silence_id)
    changed["matchers"][0]["value"] = "Bar"
    replaced = await client.post("/api/v2/silences", json=changed, headers=ADMIN)
    new_id = (await replaced.json())["silenceID"]
    assert new_id != silence_id  # other matchers: a new silence, the old one expired
    old = await (await client.get(f"/api/v2/silence/{silence_id}", headers=ADMIN)).json()
    assert old["status"]["state"] == "expired"

    deleted = await client.delete(f"/api/v2/silence/{new_id}", headers=ADMIN)
    assert deleted.status == 200
    missing = await client.delete(f"/api/v2/silence/{silence_id}x", headers=ADMIN)
    assert missing.status == 404
    unauthorized = await client.get("/api/v2/silences")
    assert unauthorized.status == 401
    flag = await client.post(
        "/api/v2/silences", json=_silence(timedelta(hours=1)) | {"matchers": []}, headers=ADMIN
    )
    assert flag.status == 400  # as in Alertmanager; POST /silence raises the global flag
    assert "at least one matcher" in await flag.json()
