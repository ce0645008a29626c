"""``POST /explain``: what a post would do, on the live state, with nothing stored or sent;
and a real post of the same body then does just that."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from lumen_bridge.cli import main
from lumen_bridge.store.models import AlertEvent, Incident, Notification
from tests.conftest import AppFactory, FakeClock, payload, post
from tests.helpers import rows
from tests.procs import serve
from tests.servers import TicketServer, eventually
from tests.test_silence_api import ADMIN, NOWHERE, add_silence, matcher

TICKET = {"severity": "ticket"}


async def explain(client: TestClient[Any, Any], body: Any) -> dict[str, Any]:
    response = await client.post("/explain", json=body, headers=ADMIN)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    assert answer["stored"] is False
    return answer


async def counts(client: TestClient[Any, Any]) -> list[int]:
    """Rows of alert_events, incidents and outbox."""
    return [
        (await rows(client, select(func.count()).select_from(table)))[0][0]
        for table in (AlertEvent, Incident, Notification)
    ]


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(**NOWHERE)


async def test_explain_tells_what_a_post_then_does(client: TestClient[Any, Any]) -> None:
    body = payload(n=2)
    told = await explain(client, body)
    assert await counts(client) == [0, 0, 0]  # nothing stored

    assert told["answer"] == {
        "alerts": 2,
        "queued": 2,
        "deduplicated": 0,
        "suppressed": 0,
        "ignored": 0,
    }
    first = told["alerts"][0]
    assert first["routes"][0] == {
        "route": 0,
        "receiver": "oncall",
        "matchers": ['severity="page"'],
        "matched": True,
        "failed_matcher": None,
        "continue": False,
    }
    [decision] = first["decisions"]
    assert decision["dedup"] == {"reason": "open", "table_row": 1, "action": "open"}
    assert decision["incident"]["new"] is True
    assert decision["outcome"] == "queued"
    [page] = told["notifications"]  # one e-mail for the webhook's two alerts
    assert page["kind"] == "email"
    assert page["subject"].startswith("[FIRING:2] LumenIntegrityMismatch")
    assert "runbook" in page["text"].lower()

    answer = await post(client, body)
    assert answer == told["answer"]
    [(key,)] = await rows(client, select(Notification.idempotency_key))
    assert key.rsplit("-", 2)[1:] == page["idempotency_key"].rsplit("-", 2)[1:]
    stored = await rows(client, select(AlertEvent.outcome, AlertEvent.reason))
    assert sorted(tuple(r) for r in stored) == sorted(
        (d["outcome"], d["why"]) for a in told["alerts"] for d in a["decisions"]
    )

    again = await explain(client, body)  # against the state the post left
    [decision] = again["alerts"][0]["decisions"]
    assert decision["dedup"] == {"reason": "repeat", "table_row": 2, "action": None}
    assert decision["incident"]["before"]["notified"] is True
    assert again["notifications"] == []
    assert await post(client, body) == again["answer"]


async def test_explain_names_the_silence_that_would_hold(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    silence = await add_silence(client, matchers=[matcher("alertname", "LumenIntegrityMismatch")])
    told = await explain(client, payload())
    [decision] = told["alerts"][0]["decisions"]
    assert decision["held_by"] == {"flag": False, "silences": [silence["id"]]}
    assert (decision["outcome"], decision["notification"]) == ("suppressed", None)
    assert await post(client, payload()) == told["answer"]


@pytest.fixture
async def tickets() -> AsyncIterator[TicketServer]:
    server = await TicketServer().start()
    yield server
    await server.close()


async def test_explain_renders_the_ticket_and_sends_nothing(
    make_client: AppFactory, tickets: TicketServer
) -> None:
    client = await make_client(deliver=True, LUMEN_TICKET_URL=tickets.url)
    told = await explain(client, payload(labels=TICKET))
    [ticket] = told["notifications"]
    assert ticket["body"]["action"] == "open"
    assert ticket["body"]["title"].startswith("LumenIntegrityMismatch")
    await post(client, payload(labels=TICKET))
    await eventually(lambda: len(tickets.requests) == 1)
    [sent] = tickets.requests  # the post's ticket, and no other: explain sent nothing
    assert sent.body["action"] == ticket["body"]["action"]
    assert sent.body["summary"] == ticket["body"]["summary"]


async def test_a_bad_body_is_refused_as_by_the_webhook(client: TestClient[Any, Any]) -> None:
    response = await client.post("/explain", json={"version": "4"}, headers=ADMIN)
    assert response.status == 422
    assert (await client.post("/explain", json=payload())).status == 401


def test_the_explain_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "alert.json"
    body.write_text(json.dumps(payload()))
    env = {
        **NOWHERE,
        "LUMEN_ADMIN_TOKEN": "explain-admin",
        "LUMEN_ALERT_TOKEN": "explain-alert",
        "LUMEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}",
    }
    with serve(tmp_path, env) as url, pytest.MonkeyPatch.context() as patch:
        patch.setenv("LUMEN_BRIDGE_URL", url)
        patch.setenv("LUMEN_ADMIN_TOKEN", "explain-admin")
        assert main(["explain", str(body)]) == 0
        out = capsys.readouterr().out
        assert main(["explain", str(tmp_path / "missing.json")]) == 2
    assert "a post would be answered: alerts 1, queued 1" in out
    assert 'route 0 -> oncall [severity="page"]: matched' in out
    assert "oncall: a new incident; open (dedup table row 1) -> queued" in out
    assert "would queue email firing (Idempotency-Key lumen-1-open-1)" in out
    assert "nothing was stored or sent" in out
