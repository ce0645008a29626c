"""Silences and routes must not be a denial of service (issue 19): their regexes run on RE2,
in time linear in the label, and what RE2 refuses is refused where the matcher is written.

On SQLite and PostgreSQL, through HTTP; the webhooks are decided in the writer process, so
the matchers also travel there (by pickle) and are compiled again.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from lumen_bridge.api.keys import RUNNER
from lumen_bridge.app import create_app
from lumen_bridge.cli.main import main
from lumen_bridge.config import ConfigError, load_settings
from lumen_bridge.config.settings import RouteConfig
from lumen_bridge.store import silences
from tests.conftest import (
    ADMIN_TOKEN,
    SERVER_SHUTDOWN_TIMEOUT,
    FakeClock,
    auth,
    make_settings,
    payload,
    post,
)
from tests.helpers import incidents

ADMIN = auth(ADMIN_TOKEN)
REPO = Path(__file__).parent.parent
# (a+)+b against n "a"s: 2**n steps for a backtracking engine (26 took 1.55 s, 40 take
# hours); RE2 reads each character once.
HOSTILE = {"name": "rx", "value": "(a+)+b", "isRegex": True, "isEqual": True}
LONG = "a" * 40
BOUND = 5.0  # seconds for one webhook: milliseconds with RE2, hours with backtracking


async def timed_post(client: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, int]:
    """POST a webhook that must be answered 200 within ``BOUND``; return the answer."""
    started = time.monotonic()
    answer = await post(client, body)
    elapsed = time.monotonic() - started
    assert elapsed < BOUND, f"the webhook took {elapsed:.1f} s"
    return answer


async def test_a_hostile_silence_neither_stalls_webhooks_nor_stops_holding_back(
    client: TestClient[Any, Any],
) -> None:
    response = await client.post(
        "/silence", json={"matchers": [HOSTILE], "duration": "1h"}, headers=ADMIN
    )
    assert response.status == 201, await response.text()
    await post(client, payload(fingerprint="warm-up"))  # the writer process is up

    answer = await timed_post(client, payload(fingerprint="long", labels={"rx": LONG}))
    assert (answer["queued"], answer["suppressed"]) == (1, 0)  # no "b": not silenced

    storm = await timed_post(client, payload(fingerprint="storm", labels={"rx": LONG}, n=50))
    assert (storm["queued"], storm["suppressed"]) == (50, 0)

    held = await timed_post(client, payload(fingerprint="held", labels={"rx": "aaab"}))
    assert (held["queued"], held["suppressed"]) == (0, 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("(?=a)a+", "lookahead (?=...) and (?!...) is not supported"),
        ("(a)\\1", "backreferences such as \\1 are not supported"),
    ],
)
async def test_a_silence_re2_cannot_run_is_refused_with_the_reason(
    client: TestClient[Any, Any], value: str, reason: str
) -> None:
    matcher = {"name": "rx", "value": value, "isRegex": True}
    response = await client.post(
        "/silence", json={"matchers": [matcher], "duration": "1h"}, headers=ADMIN
    )
    assert response.status == 422, await response.text()
    answer = await response.json()
    assert answer["error"] == "not a valid silence"
    [detail] = answer["details"]
    assert detail["loc"] == ["matchers", 0]
    assert f"{reason} (RE2 syntax, as in Alertmanager)" in detail["msg"]
    listed = await client.get("/silence", headers=ADMIN)
    assert await listed.json() == []


async def test_a_hostile_route_does_not_stall_webhooks(
    aiohttp_client: Any, db_url: str, clock: FakeClock
) -> None:
    settings = make_settings(db_url)
    routes = [
        RouteConfig.model_validate({"matchers": ['rx=~"(a+)+b"'], "receiver": "backlog"}),
        RouteConfig.model_validate({"receiver": "default"}),
    ]
    app = create_app(settings.model_copy(update={"routes": routes}), clock=clock, deliver=False)
    server = TestServer(app)
    await server.start_server(shutdown_timeout=SERVER_SHUTDOWN_TIMEOUT)
    client: TestClient[Any, Any] = await aiohttp_client(server)
    await post(client, payload(fingerprint="warm-up"))

    await timed_post(client, payload(fingerprint="long", labels={"rx": LONG}))
    await timed_post(client, payload(fingerprint="match", labels={"rx": "aaab"}))
    receivers = {i.identity: i.receiver for i in await incidents(client)}  # fingerprints
    assert receivers == {"warm-up": "default", "long": "default", "match": "backlog"}


def test_a_route_re2_cannot_run_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    shipped = (REPO / "config" / "lumen-bridge.yaml").read_text()
    config.write_text(shipped.replace("""['severity="page"']""", """['rx=~"x(?<=x)"']"""))
    reason = "lookbehind (?<=...) and (?<!...) is not supported (RE2 syntax, as in Alertmanager)"
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    [error] = caught.value.errors  # the one route matcher, and nothing else
    assert "matchers" in error and reason in error

    with pytest.raises(SystemExit) as exited:
        main(["check-config", "--config", str(config)])
    assert exited.value.code != 0
    assert reason in capsys.readouterr().err


def test_the_silence_command_refuses_it_before_sending_anything(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUMEN_BRIDGE_URL", "http://127.0.0.1:9")  # nobody: must not be asked
    assert main(["silence", "add", 'rx=~"(?!a)b"', "--duration", "1h"]) == 2
    assert "lookahead (?=...) and (?!...) is not supported" in capsys.readouterr().err


async def test_a_stored_silence_this_version_refuses_stays_readable_and_holds_nothing(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    """Stored by an earlier version (Python ``re``): listed, expirable, and skipped when
    webhooks are decided, instead of failing them."""
    lookahead = [{"name": "rx", "value": "(?=a)a+", "isRegex": True, "isEqual": True}]
    stored = await client.app[RUNNER].write(
        lambda connection: silences.add(
            connection,
            matchers=lookahead,
            starts_at=clock.now,
            ends_at=clock.now + timedelta(hours=1),
            created_by="earlier version",
            comment="",
            now=clock.now,
        )
    )
    response = await client.get("/silence", headers=ADMIN)
    listed = await response.json()
    assert response.status == 200, listed
    assert [s["matchers"] for s in listed] == [lookahead]
    answer = await timed_post(client, payload(labels={"rx": "aaa"}))
    assert (answer["queued"], answer["suppressed"]) == (1, 0)
    expired = await client.delete(f"/silence/{stored.id}", headers=ADMIN)
    assert expired.status == 200
