"""Reconcile with Alertmanager (docs/reconcile.md): an incident no peer that answered still
has, two polls in a row, is resolved once through the pipeline; against a real Alertmanager
(Debian's prometheus-alertmanager) and a small fake peer for the edge cases. The poller is
driven with explicit ``poll_once(now)`` calls and the test clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from lumen_bridge.api.keys import RUNNER, SETTINGS
from lumen_bridge.config import ConfigError, load_settings
from lumen_bridge.config.settings import AlertmanagersConfig
from lumen_bridge.reconcile import REASON, Poll, ReconcilePipeline, Reconciler
from lumen_bridge.store.models import AlertEvent
from tests.conftest import ALERT_TOKEN, AppFactory, FakeClock, payload, post
from tests.helpers import incidents, notifications, rows
from tests.procs import free_port
from tests.servers import eventually, self_signed_cert

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
INTERVAL = timedelta(minutes=1)
FINGERPRINT = "f00d"  # the fingerprint of tests.conftest.payload()
TICKETS = {"LUMEN_TICKET_URL": "http://127.0.0.1:9/api/alerts"}  # never called: no delivery


def am_alert(fingerprint: str = FINGERPRINT, *, silenced: bool = False) -> dict[str, Any]:
    """One alert as ``GET /api/v2/alerts`` lists it."""
    return {
        "fingerprint": fingerprint,
        "labels": {"alertname": "X"},
        "status": {
            "state": "suppressed" if silenced else "active",
            "silencedBy": ["s1"] if silenced else [],
            "inhibitedBy": [],
        },
    }


@dataclass
class FakePeer:
    """An Alertmanager's alert list: the alerts it holds, or an HTTP status to fail with."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: list[dict[str, str]] = field(default_factory=list)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if self.status != 200:
            return web.json_response({"error": "down"}, status=self.status)
        return web.json_response(self.alerts)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/"))


async def start_peer(context: ssl.SSLContext | None = None) -> FakePeer:
    """A fake peer on 127.0.0.1 (over TLS with ``context``)."""
    peer = FakePeer()
    app = web.Application()
    app.router.add_get("/api/v2/alerts", peer.handle)
    peer.server = TestServer(app, host="127.0.0.1")
    await peer.server.start_server(ssl=context)
    return peer


@pytest.fixture
async def peers() -> AsyncIterator[list[FakePeer]]:
    """Two fake peers."""
    started = [await start_peer(), await start_peer()]
    yield started
    for peer in started:
        assert peer.server is not None
        await peer.server.close()


@contextlib.asynccontextmanager
async def reconciler(
    client: TestClient[Any, Any], clock: FakeClock, *urls: str, **config: Any
) -> AsyncIterator[tuple[Reconciler, list[int]]]:
    """A reconciler of ``client``'s bridge for the peers ``urls``, and the counts it reports."""
    reported: list[int] = []
    settings = AlertmanagersConfig.model_validate({"urls": list(urls), **config})
    pipeline = ReconcilePipeline(client.app[SETTINGS], client.app[RUNNER])
    async with Reconciler(settings, pipeline, clock, on_reconciled=reported.append) as running:
        yield running, reported


async def poll(running: Reconciler, clock: FakeClock) -> Poll:
    """One poll now, then the clock moves on by one interval."""
    done = await running.poll_once(clock.now)
    clock.advance(seconds=INTERVAL.total_seconds())
    return done


async def statuses(client: TestClient[Any, Any]) -> list[tuple[str, str | None]]:
    return [(i.status, i.am_state) for i in await incidents(client)]


async def events(client: TestClient[Any, Any]) -> list[tuple[str, str, str]]:
    """(status, outcome, reason) of every alert event, oldest first."""
    found = await rows(
        client,
        select(AlertEvent.status, AlertEvent.outcome, AlertEvent.reason).order_by(AlertEvent.id),
    )
    return [(s, o, r) for s, o, r in found]


# -- a real Alertmanager --------------------------------------------------------------------


@contextlib.contextmanager
def alertmanager(directory: Path, webhook_url: str) -> Iterator[str]:
    """Debian's Alertmanager on 127.0.0.1, alone (no cluster), sending each alert group to
    ``webhook_url`` at once and never its resolve: the bridge can learn of it only by
    reconcile. Yields its base URL; stopped when the block ends."""
    config = {
        "route": {
            "receiver": "bridge",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "bridge",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": False,
                        "http_config": {"authorization": {"credentials": ALERT_TOKEN}},
                    }
                ],
            }
        ],
    }
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = directory / "alertmanager.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={path}",
                f"--storage.path={directory / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    except BaseException:
        print(log.read_text(errors="replace"))
        raise
    finally:
        process.terminate()
        process.wait(timeout=15)


async def am_request(method: str, url: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, timeout=aiohttp.ClientTimeout(total=5)) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return json.loads(await answer.read() or b"null")


async def ready(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/-/ready") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


@pytest.mark.skipif(not Path(ALERTMANAGER).exists(), reason="needs prometheus-alertmanager")
async def test_real_alertmanager_silence_then_vanish_resolves_once(
    make_client: AppFactory, clock: FakeClock, tmp_path: Path
) -> None:
    client = await make_client()
    with alertmanager(tmp_path, str(client.make_url("/webhook"))) as am:
        await eventually(lambda: ready(am), within=30)
        real_now = datetime.now(UTC)
        alertname = "LumenIntegrityMismatch"
        alert = {
            "labels": {"alertname": alertname, "severity": "page"},
            "annotations": {"summary": "checksums differ"},
            "startsAt": real_now.isoformat(),
        }
        await am_request("POST", f"{am}/api/v2/alerts", [alert])

        async def learned() -> bool:  # Alertmanager's webhook opened the incident
            return await statuses(client) == [("firing", None)]

        await eventually(learned, within=20)
        async with reconciler(client, clock, am) as (running, reported):
            assert await poll(running, clock) == Poll(answered=1, resolved=0, queued=0)
            assert await statuses(client) == [("firing", "active")]

            silence = {
                "matchers": [{"name": "alertname", "value": alertname, "isRegex": False}],
                "startsAt": real_now.isoformat(),
                "endsAt": (real_now + timedelta(hours=1)).isoformat(),
                "createdBy": "test",
                "comment": "maintenance",
            }
            await am_request("POST", f"{am}/api/v2/silences", silence)
            assert (await poll(running, clock)).resolved == 0
            assert await statuses(client) == [("firing", "silenced")]

            # It ends in Alertmanager, silenced: no resolve webhook is ever sent.
            ended = {**alert, "endsAt": datetime.now(UTC).isoformat()}
            await am_request("POST", f"{am}/api/v2/alerts", [ended])

            async def vanished() -> bool:
                return bool(await am_request("GET", f"{am}/api/v2/alerts") == [])

            await eventually(vanished)
            assert await poll(running, clock) == Poll(answered=1, resolved=0, queued=0)
            assert [i.am_absent_since for i in await incidents(client)] == [clock.now - INTERVAL]
            assert await poll(running, clock) == Poll(answered=1, resolved=1, queued=1)
            assert await poll(running, clock) == Poll(answered=1, resolved=0, queued=0)

        [incident] = await incidents(client)
        assert incident.status == "resolved"
        assert await notifications(client) == [
            ("oncall", "email", "firing", [incident.id]),
            ("oncall", "email", "resolve", [incident.id]),
        ]
        assert (await events(client))[-1] == ("resolved", "queued", REASON)
        assert reported == [1]


# -- edge cases, with fake peers ----------------------------------------------------------------


async def test_two_replicas_on_one_database_resolve_once(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    first, second = await make_client(**TICKETS), await make_client(**TICKETS)
    await post(first, payload(labels={"severity": "ticket"}))
    async with (
        reconciler(first, clock, peers[0].url) as (one, one_reported),
        reconciler(second, clock, peers[0].url) as (two, two_reported),
    ):
        for _ in range(2):  # both replicas poll at the same moments
            await asyncio.gather(one.poll_once(clock.now), two.poll_once(clock.now))
            clock.advance(seconds=INTERVAL.total_seconds())
    assert one_reported + two_reported == [1]
    actions = [(receiver, action) for receiver, _, action, _ in await notifications(first)]
    assert actions == [("backlog", "open"), ("backlog", "resolve")]
    assert [e for e in await events(first) if e[0] == "resolved"] == [
        ("resolved", "queued", REASON)
    ]


async def test_a_peer_that_errors_is_never_taken_as_absent(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload())
    down, up = peers
    down.status, up.alerts = 500, [am_alert()]
    async with reconciler(client, clock, down.url, up.url) as (running, _):
        for _ in range(3):
            assert (await poll(running, clock)).answered == 1
        assert await statuses(client) == [("firing", "active")]
        up.alerts = []  # absent from every peer that answered
        await poll(running, clock)
        assert (await poll(running, clock)).resolved == 1
    assert await statuses(client) == [("resolved", "active")]


async def test_no_peer_answering_resolves_nothing(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload())
    peers[0].status = 503
    refused = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    async with reconciler(client, clock, peers[0].url, refused) as (running, reported):
        for _ in range(3):
            assert await poll(running, clock) == Poll(answered=0, resolved=0, queued=0)
    assert [(i.status, i.am_absent_since) for i in await incidents(client)] == [("firing", None)]
    assert reported == []


async def test_an_answer_that_is_not_alerts_is_no_answer(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload())
    peers[0].alerts = {"data": []}  # type: ignore[assignment]  # not the v2 API's list
    async with reconciler(client, clock, peers[0].url) as (running, _):
        for _ in range(2):
            assert (await poll(running, clock)).answered == 0
    assert await statuses(client) == [("firing", None)]


async def test_one_of_two_peers_still_having_it_keeps_it_firing(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload())
    peers[1].alerts = [am_alert(silenced=True)]
    async with reconciler(client, clock, peers[0].url, peers[1].url) as (running, _):
        for _ in range(3):
            assert await poll(running, clock) == Poll(answered=2, resolved=0, queued=0)
    assert await statuses(client) == [("firing", "silenced")]


async def test_flapping_between_polls_never_resolves(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload())
    async with reconciler(client, clock, peers[0].url) as (running, _):
        for present in (False, True) * 3:
            peers[0].alerts = [am_alert()] if present else []
            assert (await poll(running, clock)).resolved == 0
        peers[0].alerts = []
        await poll(running, clock)
        assert (await poll(running, clock)).resolved == 1


async def test_a_webhook_between_polls_starts_over(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload())
    async with reconciler(client, clock, peers[0].url) as (running, _):
        await poll(running, clock)  # absent once
        await post(client, payload())  # yet a peer the bridge does not poll still sends it
        assert (await poll(running, clock)).resolved == 0
        assert (await poll(running, clock)).resolved == 1


async def test_the_resolve_of_an_incident_nobody_was_told_of_sends_nothing(
    make_client: AppFactory, clock: FakeClock, peers: list[FakePeer]
) -> None:
    client = await make_client()
    await post(client, payload(labels={"severity": "info"}))  # the default receiver: no URL
    async with reconciler(client, clock, peers[0].url) as (running, reported):
        await poll(running, clock)
        assert await poll(running, clock) == Poll(answered=1, resolved=1, queued=0)
    assert await notifications(client) == []
    assert (await events(client))[-1] == ("resolved", "ignored", REASON)
    assert reported == [1]


@pytest.mark.parametrize(
    ("config", "header"),
    [
        ({"token": "am-token"}, "Bearer am-token"),
        ({"username": "lumen", "password": "pw"}, "Basic bHVtZW46cHc="),
        ({}, None),
    ],
)
async def test_peers_are_asked_with_the_configured_credentials(
    make_client: AppFactory,
    clock: FakeClock,
    peers: list[FakePeer],
    config: dict[str, str],
    header: str | None,
) -> None:
    client = await make_client()
    async with reconciler(client, clock, peers[0].url, **config) as (running, _):
        await poll(running, clock)
    [asked] = peers[0].headers
    assert asked.get("Authorization") == header


async def test_an_https_peer_is_trusted_through_ca_file(
    make_client: AppFactory, clock: FakeClock, tmp_path: Path
) -> None:
    client = await make_client()
    cert, key = self_signed_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    peer = await start_peer(context)
    try:
        async with reconciler(client, clock, peer.url, ca_file=str(cert)) as (trusting, _):
            assert (await poll(trusting, clock)).answered == 1
        async with reconciler(client, clock, peer.url) as (system_cas, _):
            assert (await poll(system_cas, clock)).answered == 0  # not a certificate it trusts
    finally:
        assert peer.server is not None
        await peer.server.close()


def test_the_shipped_default_leaves_reconcile_off_and_reads_the_environment() -> None:
    assert load_settings(None, {}).alertmanagers == AlertmanagersConfig()
    assert AlertmanagersConfig().urls == [] and AlertmanagersConfig().interval == INTERVAL
    settings = load_settings(
        None,
        {
            "LUMEN_ALERTMANAGER_URLS": "http://am1:9093, http://am2:9093",
            "LUMEN_RECONCILE_INTERVAL": "30s",
        },
    )
    assert settings.alertmanagers.urls == ["http://am1:9093", "http://am2:9093"]
    assert settings.alertmanagers.interval == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{urls: [am1:9093]}", "alertmanagers.urls[0]: must be an http(s) URL"),
        ("{token: t, username: u}", "set either token or username and password, not both"),
        ("{password: p}", "a password needs a username"),
        ("{ca_file: /nowhere.pem}", "alertmanagers.ca_file: no such file: /nowhere.pem"),
        ("{interval: soon}", "alertmanagers.interval: invalid duration"),
    ],
)
def test_config_errors(tmp_path: Path, section: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "receivers: [{name: r, type: webhook, url: 'http://127.0.0.1:9/'}]\n"
        "routes: [{receiver: r}]\n"
        f"alertmanagers: {section}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path, {})
    assert message in str(raised.value)
