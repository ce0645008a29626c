"""Escalation (docs/lifecycle.md): a page nobody acknowledged pages the next level after its
delay, level by level, once across replicas; an ack or a resolve stops it, and a re-fire
after a resolve starts again at level 0. The fake clock drives the loop's single pass.
SQLite and PostgreSQL; the escalation e-mails through a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from lumen_bridge.app import ESCALATOR, create_app
from lumen_bridge.config import (
    ConfigError,
    EmailReceiver,
    EscalationStep,
    Settings,
    load_settings,
)
from lumen_bridge.lifecycle import Escalated, Escalator, escalation
from lumen_bridge.pipeline import Pipeline
from tests.conftest import (
    SERVER_SHUTDOWN_TIMEOUT,
    FakeClock,
    auth,
    make_settings,
    payload,
    post,
)
from tests.helpers import notifications
from tests.servers import SmtpSink, eventually

NAMED = "alice=alice-token"
ALICE = auth("alice-token")
LATER = "2026-11-26T12:20:00Z"  # the startsAt of a re-fire
Factory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def escalating_settings(db_url: str, smtp_port: int) -> Settings:
    """The page route escalates to ``lead`` after 15 minutes, then to ``director`` 30 minutes
    later (and reopens within 2 hours)."""
    settings = make_settings(
        db_url, LUMEN_ADMIN_TOKENS=NAMED, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_port)
    )
    oncall = settings.receiver("oncall")
    assert isinstance(oncall, EmailReceiver)
    levels = [
        oncall.model_copy(update={"name": name, "to": [f"{name}@example.com"]})
        for name in ("lead", "director")
    ]
    steps = [
        EscalationStep(after=timedelta(minutes=15), receiver="lead"),
        EscalationStep(after=timedelta(minutes=30), receiver="director"),
    ]
    page_route = settings.routes[0].model_copy(
        update={"escalation": steps, "reopen_window": timedelta(hours=2)}
    )
    return settings.model_copy(
        update={
            "receivers": [*settings.receivers, *levels],
            "routes": [page_route, *settings.routes[1:]],
        }
    )


@pytest.fixture
def escalating(aiohttp_client: Any, db_url: str, clock: FakeClock, smtp: SmtpSink) -> Factory:
    """A bridge with :func:`escalating_settings`; each call is another replica on the same
    database."""

    async def factory(*, deliver: bool = False) -> TestClient[Any, Any]:
        settings = escalating_settings(db_url, smtp.port)
        server = TestServer(create_app(settings, clock=clock, deliver=deliver))
        await server.start_server(shutdown_timeout=SERVER_SHUTDOWN_TIMEOUT)
        client: TestClient[Any, Any] = await aiohttp_client(server)
        return client

    return factory


async def escalate(client: TestClient[Any, Any], clock: FakeClock) -> list[Escalated]:
    return await client.app[ESCALATOR].escalate_due(clock())


async def incident(client: TestClient[Any, Any], incident_id: int = 1) -> Any:
    return await (await client.get(f"/incidents/{incident_id}", headers=ALICE)).json()


async def test_an_unacknowledged_page_escalates_after_its_delay_level_by_level(
    escalating: Factory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await escalating(deliver=True)
    await post(client, payload())
    await eventually(lambda: len(smtp.messages) == 1)
    clock.advance(minutes=14, seconds=59)
    assert await escalate(client, clock) == []
    clock.advance(seconds=1)
    assert await escalate(client, clock) == [Escalated(1, "lead", 1)]
    assert await escalate(client, clock) == []  # paged once
    await eventually(lambda: len(smtp.messages) == 2)
    mail = smtp.messages[1]
    assert mail.rcpt_tos == ["lead@example.com"]
    assert mail.message["Subject"].endswith("(escalation, level 1)")
    plain = mail.message.get_body(("plain",)).get_content()
    assert "(escalation, level 1: nobody acknowledged the page in time)" in plain
    clock.advance(minutes=29)
    assert await escalate(client, clock) == []  # the next delay counts from the last level
    clock.advance(minutes=1)
    assert await escalate(client, clock) == [Escalated(1, "director", 2)]
    clock.advance(hours=5)
    assert await escalate(client, clock) == []  # no step left
    await eventually(lambda: len(smtp.messages) == 3)
    assert smtp.messages[2].rcpt_tos == ["director@example.com"]
    found = await incident(client)
    assert found["escalation_level"] == 2
    paged = [
        (e["detail"]["receiver"], e["detail"]["action"])
        for e in found["timeline"]
        if e["type"] == "notification"
    ]
    assert paged == [("oncall", "open"), ("lead", "escalate"), ("director", "escalate")]
    metrics = await (await client.get("/metrics")).text()
    assert 'lumen_bridge_escalations_total{receiver="lead"} 1.0' in metrics
    assert 'lumen_bridge_escalations_total{receiver="director"} 1.0' in metrics


async def test_an_ack_or_a_resolve_stops_it_and_a_refire_starts_at_level_0(
    escalating: Factory, clock: FakeClock
) -> None:
    client = await escalating()
    await post(client, payload())
    await post(client, payload(fingerprint="other", labels={"instance": "remote-b"}))
    clock.advance(minutes=5)
    response = await client.post("/incidents/1/ack", headers=ALICE)
    assert response.status == 200
    clock.advance(minutes=11)
    assert await escalate(client, clock) == [Escalated(2, "lead", 1)]  # not the acked one
    await post(client, payload("resolved", fingerprint="other", labels={"instance": "remote-b"}))
    clock.advance(hours=1)
    assert await escalate(client, clock) == []  # resolved
    # a re-fire within the reopen window: the same incident, a new episode
    refire = payload(fingerprint="other", labels={"instance": "remote-b"}, starts_at=LATER)
    assert (await post(client, refire))["queued"] == 1
    assert (await incident(client, 2))["escalation_level"] == 0
    clock.advance(minutes=14)
    assert await escalate(client, clock) == []
    clock.advance(minutes=1)
    assert await escalate(client, clock) == [Escalated(2, "lead", 1)]
    assert [n[2] for n in await notifications(client)].count("firing") == 5


async def test_two_replicas_page_an_escalation_once(escalating: Factory, clock: FakeClock) -> None:
    first, second = await escalating(), await escalating()
    await post(first, payload())
    clock.advance(minutes=16)
    done = await asyncio.gather(escalate(first, clock), escalate(second, clock))
    assert sorted(len(d) for d in done) == [0, 1]
    escalations = [n for n in await notifications(first) if n[0] == "lead"]
    assert len(escalations) == 1


def test_escalation_steps_and_silence_notices_must_name_an_e_mail_receiver(tmp_path: Path) -> None:
    config = tmp_path / "lumen.yaml"
    config.write_text(
        "receivers:\n"
        "  - {name: mail, type: email, to: a@example.com, from: b@example.com}\n"
        "  - {name: hook, type: webhook, url: 'http://hook.local'}\n"
        "routes:\n"
        "  - receiver: mail\n"
        "    escalation:\n"
        "      - {after: 15m, receiver: hook}\n"
        "      - {after: 30m, receiver: mail}\n"
        "silences: {notify: hook}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config, {})
    assert (
        f"{config}:7: routes[0].escalation[0].receiver: no e-mail receiver is called 'hook' "
        "(e-mail receivers: mail)"
    ) in str(raised.value)
    assert (
        f"{config}:9: silences.notify: no e-mail receiver is called 'hook' (e-mail receivers: mail)"
    ) in str(raised.value)


class FlakyRunner:
    """A database that fails its first read, then has nothing due."""

    def __init__(self) -> None:
        self.reads = 0
        self.third = asyncio.Event()

    async def read(self, work: Any) -> list[Any]:
        self.reads += 1
        if self.reads == 1:
            raise OSError("connection refused")
        if self.reads == 3:
            self.third.set()
        return []


async def test_the_loop_survives_a_database_error_and_stops_at_once(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setattr(escalation, "RETRY_AFTER_ERROR", timedelta(0))
    monkeypatch.setattr(escalation, "CHECK_EVERY", timedelta(0))
    settings = escalating_settings("sqlite+aiosqlite:///unused.db", 25)
    runner = FlakyRunner()
    task = asyncio.create_task(Escalator(settings, Pipeline(settings, runner), clock).run())
    await asyncio.wait_for(runner.third.wait(), 5)  # went on after the error
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
