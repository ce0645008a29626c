"""The /silence API and the suppression stage, on SQLite and PostgreSQL, through HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN, AppFactory, FakeClock, auth, payload, post
from tests.helpers import incidents, item_actions

ADMIN = auth(ADMIN_TOKEN)
TICKET = {"severity": "ticket"}
# Deliveries, if a worker runs, go to closed loopback ports: nothing leaves the machine.
NOWHERE = {
    "LUMEN_TICKET_URL": "http://127.0.0.1:9/tickets",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": "9",
}


def matcher(name: str, value: str, *, regex: bool = False, equal: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


ALERTNAME = matcher("alertname", "LumenIntegrityMismatch")  # the alert of payload()


DROP = object()


def body(**changes: Any) -> dict[str, Any]:
    """A valid silence with ``changes`` applied (``DROP`` removes a field)."""
    base: dict[str, Any] = {"matchers": [ALERTNAME], "duration": "1h"}
    return {k: v for k, v in (base | changes).items() if v is not DROP}


async def add_silence(client: TestClient[Any, Any], **changes: Any) -> dict[str, Any]:
    """Create a silence that must be accepted (for 1h unless told otherwise); return it."""
    sent = body(**({"duration": DROP} if "endsAt" in changes else {}) | changes)
    response = await client.post("/silence", json=sent, headers=ADMIN)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def get_json(client: TestClient[Any, Any], path: str) -> Any:
    response = await client.get(path, headers=ADMIN)
    assert response.status == 200, await response.text()
    return await response.json()


async def scrape(client: TestClient[Any, Any]) -> str:
    return await (await client.get("/metrics")).text()


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client(**NOWHERE)


def iso(clock: FakeClock, **delta: float) -> str:
    return (clock.now + timedelta(**delta)).isoformat().replace("+00:00", "Z")


# --- the API -------------------------------------------------------------------------------


async def test_create_answers_201_with_the_silence(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    created = await add_silence(
        client,
        matchers=[
            matcher("alertname", "LumenStageFailed"),
            matcher("stage", "pdf|upload", regex=True),
        ],
        duration="2h",
        createdBy="kim",
        comment="planned maintenance",
    )
    assert created["status"] == {"state": "active"}
    assert created["matchers"] == [
        matcher("alertname", "LumenStageFailed"),
        matcher("stage", "pdf|upload", regex=True),
    ]
    assert (created["startsAt"], created["endsAt"]) == (iso(clock), iso(clock, hours=2))
    assert (created["createdBy"], created["comment"]) == ("kim", "planned maintenance")
    assert set(created) == {
        "id", "status", "matchers", "startsAt", "endsAt", "updatedAt", "createdBy", "comment"
    }  # fmt: skip
    assert await get_json(client, f"/silence/{created['id']}") == created
    assert await get_json(client, "/silence") == [created]


async def test_states_move_with_the_clock(client: TestClient[Any, Any], clock: FakeClock) -> None:
    later = await add_silence(client, startsAt=iso(clock, hours=1), endsAt=iso(clock, hours=3))
    now = await add_silence(client, endsAt=iso(clock, hours=2))
    assert later["status"]["state"] == "pending"
    assert now["status"]["state"] == "active"
    assert [s["id"] for s in await get_json(client, "/silence")] == [now["id"], later["id"]]

    clock.advance(hours=1)
    states = {s["id"]: s["status"]["state"] for s in await get_json(client, "/silence")}
    assert states == {now["id"]: "active", later["id"]: "active"}

    clock.advance(hours=1)  # `now` ends exactly here
    assert [s["id"] for s in await get_json(client, "/silence")] == [later["id"]]
    expired = await get_json(client, "/silence?state=expired")
    assert [(s["id"], s["status"]["state"]) for s in expired] == [(now["id"], "expired")]
    assert await get_json(client, "/silence?state=pending") == []
    assert (await get_json(client, f"/silence/{now['id']}"))["status"]["state"] == "expired"

    clock.advance(hours=1)
    assert await get_json(client, "/silence") == []
    assert len(await get_json(client, "/silence?state=expired")) == 2


async def test_start_in_the_past_means_now(client: TestClient[Any, Any], clock: FakeClock) -> None:
    created = await add_silence(client, startsAt=iso(clock, hours=-1), duration="30m")
    assert (created["startsAt"], created["endsAt"]) == (iso(clock), iso(clock, minutes=30))


async def test_delete_expires_now(client: TestClient[Any, Any], clock: FakeClock) -> None:
    active = await add_silence(client)
    pending = await add_silence(client, startsAt=iso(clock, hours=1))
    clock.advance(minutes=5)
    response = await client.delete(f"/silence/{active['id']}", headers=ADMIN)
    assert response.status == 200
    gone = await response.json()
    assert gone["status"]["state"] == "expired"
    assert (gone["startsAt"], gone["endsAt"]) == (active["startsAt"], iso(clock))

    response = await client.delete(f"/silence/{pending['id']}", headers=ADMIN)
    never = await response.json()
    assert never["status"]["state"] == "expired"
    assert never["startsAt"] == never["endsAt"] == iso(clock)
    assert await get_json(client, "/silence") == []

    clock.advance(minutes=5)  # expiring again changes nothing
    again = await client.delete(f"/silence/{active['id']}", headers=ADMIN)
    assert (again.status, (await again.json())["endsAt"]) == (200, gone["endsAt"])


async def test_unknown_silence_is_404(client: TestClient[Any, Any]) -> None:
    for method in ("GET", "DELETE"):
        for path in ("/silence/nope", "/silence/0b3c9f61-4f7e-4bb5-9a43-3b1b6f3c6a10"):
            response = await client.request(method, path, headers=ADMIN)
            assert response.status == 404
            assert (await response.json())["error"] == f"no silence {path.split('/')[-1]}"


async def test_ids_are_read_in_any_uuid_spelling(client: TestClient[Any, Any]) -> None:
    created = await add_silence(client)
    assert await get_json(client, f"/silence/{created['id'].upper()}") == created


@pytest.mark.parametrize(
    ("sent", "loc", "msg"),
    [
        (body(matchers=DROP), ["matchers"], "Field required"),
        (body(matchers=[matcher("env", "")]), ["matchers"], "must not match the empty string"),
        (body(matchers=[matcher("env", ".*", regex=True)]), ["matchers"], "empty string"),
        (body(matchers=[matcher("env", "prod", equal=False)]), ["matchers"], "empty string"),
        (body(matchers=[matcher("a", "(", regex=True)]), ["matchers", 0], "regular expression"),
        (body(matchers=[matcher("", "x")]), ["matchers", 0, "name"], "pattern"),
        (body(matchers=[{"name": "a"}]), ["matchers", 0, "value"], "Field required"),
        (body(duration="soon"), ["duration"], "invalid duration 'soon'"),
        (body(duration="0s"), ["duration"], "must be positive"),
        (body(endsAt="2026-11-26T14:00:00Z"), ["duration"], "not both"),
        (body(duration=DROP), ["endsAt"], "endsAt or duration is required"),
        (
            body(duration=DROP, startsAt="2026-11-26T15:00:00Z", endsAt="2026-11-26T14:00:00Z"),
            ["endsAt"],
            "endsAt must be after startsAt",
        ),
        (body(duration=DROP, endsAt="2026-11-26T11:00:00Z"), ["endsAt"], "in the future"),
        (body(duration=DROP, endsAt="2026-11-26T14:00:00"), ["endsAt"], "timezone"),
        (body(matcher=[]), ["matcher"], "Extra inputs are not permitted"),
        (body(duration="99999999999w"), ["duration"], "too long"),
        (body(startsAt="9999-12-31T23:30:00Z"), ["endsAt"], "before the year 10000"),
        (body(comment="a\x00b"), ["comment"], "NUL"),
    ],
)
async def test_validation_errors_are_422_with_details(
    client: TestClient[Any, Any], sent: dict[str, Any], loc: list[Any], msg: str
) -> None:
    response = await client.post("/silence", json=sent, headers=ADMIN)
    assert response.status == 422, await response.text()
    answer = await response.json()
    assert answer["error"] == "not a valid silence"
    assert any(d["loc"] == loc and msg in d["msg"] for d in answer["details"]), answer
    assert await get_json(client, "/silence") == []


async def test_a_matcher_on_an_empty_label_is_fine_next_to_a_real_one(
    client: TestClient[Any, Any],
) -> None:
    created = await add_silence(client, matchers=[ALERTNAME, matcher("stage", "")])
    assert created["status"]["state"] == "active"
    assert (await post(client, payload()))["suppressed"] == 1  # no stage label
    assert (await post(client, payload(fingerprint="b", labels={"stage": "pdf"})))["queued"] == 1


async def test_other_errors(client: TestClient[Any, Any]) -> None:
    body = {"matchers": [], "duration": "1h"}
    assert (await client.post("/silence", json=body)).status == 401
    assert (await client.post("/silence", json=body, headers=auth("wrong"))).status == 401
    assert (await client.get("/silence")).status == 401
    assert (await client.get("/silence/x", headers=auth("wrong"))).status == 401
    assert (await client.delete("/silence/x")).status == 401
    not_json = await client.post(
        "/silence", data="{", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert not_json.status == 400
    text = await client.post("/silence", data="x", headers={**ADMIN, "Content-Type": "text/plain"})
    assert text.status == 415
    bad_state = await client.get("/silence?state=gone", headers=ADMIN)
    assert bad_state.status == 400
    assert "error" in await bad_state.json()


# --- what silences do to alerts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("matchers", "labels", "silenced"),
    [
        ([matcher("stage", "pdf")], {"stage": "pdf"}, True),
        ([matcher("stage", "pdf")], {"stage": "pdfx"}, False),
        ([matcher("env", "dev", equal=False), ALERTNAME], {"env": "prod"}, True),
        ([matcher("env", "dev", equal=False), ALERTNAME], {"env": "dev"}, False),
        ([matcher("stage", "pdf|upload", regex=True)], {"stage": "upload"}, True),
        ([matcher("stage", "pdf|upload", regex=True)], {"stage": "xpdf"}, False),  # anchored
        ([matcher("stage", "pd", regex=True)], {"stage": "pdf"}, False),  # anchored
        ([matcher("stage", "p.*", regex=True, equal=False), ALERTNAME], {"stage": "build"}, True),
        ([matcher("stage", "p.*", regex=True, equal=False), ALERTNAME], {"stage": "pdf"}, False),
        ([matcher("stage", "pdf"), matcher("instance", "remote-a")], {"stage": "pdf"}, True),
        ([matcher("stage", "pdf"), matcher("instance", "remote-b")], {"stage": "pdf"}, False),
    ],
)
async def test_matcher_semantics(
    client: TestClient[Any, Any],
    matchers: list[dict[str, Any]],
    labels: dict[str, str],
    silenced: bool,
) -> None:
    await add_silence(client, matchers=matchers)
    answer = await post(client, payload(labels=labels))
    assert (answer["suppressed"], answer["queued"]) == ((1, 0) if silenced else (0, 1))


async def test_pending_and_expired_silences_do_not_suppress(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    await add_silence(client, startsAt=iso(clock, minutes=30))
    assert (await post(client, payload(fingerprint="a")))["queued"] == 1
    clock.advance(minutes=30)
    assert (await post(client, payload(fingerprint="b")))["suppressed"] == 1
    clock.advance(hours=1)
    assert (await post(client, payload(fingerprint="c")))["queued"] == 1


async def test_suppressed_alerts_are_stored_counted_and_visible(
    client: TestClient[Any, Any],
) -> None:
    await add_silence(client)
    answer = await post(client, payload(n=3))
    assert answer == {"alerts": 3, "queued": 0, "deduplicated": 0, "suppressed": 3, "ignored": 0}
    assert await item_actions(client) == []
    stored = await incidents(client)
    assert [(i.status, i.held, i.notified) for i in stored] == [("firing", True, False)] * 3
    detail = await get_json(client, f"/incidents/{stored[0].id}")
    assert detail["held"] is True
    [event] = detail["timeline"]
    assert (event["type"], event["detail"]["outcome"]) == ("alert", "suppressed")
    assert event["detail"]["reason"] == "silence"
    metrics = await scrape(client)
    assert 'lumen_bridge_alerts_suppressed_total{reason="silence"} 3.0' in metrics
    assert 'lumen_bridge_alerts_suppressed_total{reason="flag"} 0.0' in metrics
    assert "lumen_alert_suppressed 0.0" in metrics  # a silence with matchers is not the flag
    # repeats while silenced stay held back
    again = await post(client, payload(n=3))
    assert again["suppressed"] == 3
    assert await item_actions(client) == []


async def test_global_flag_by_api(client: TestClient[Any, Any]) -> None:
    assert "lumen_alert_suppressed 0.0" in await scrape(client)
    flag = await add_silence(client, matchers=[], comment="freeze")
    assert flag["matchers"] == []
    assert "lumen_alert_suppressed 1.0" in await scrape(client)
    answer = await post(client, payload(labels=TICKET, fingerprint="anything"))
    assert answer["suppressed"] == 1
    assert 'lumen_bridge_alerts_suppressed_total{reason="flag"} 1.0' in await scrape(client)
    [incident] = await incidents(client)
    [event] = (await get_json(client, f"/incidents/{incident.id}"))["timeline"]
    assert (event["detail"]["outcome"], event["detail"]["reason"]) == ("suppressed", "flag")
    await client.delete(f"/silence/{flag['id']}", headers=ADMIN)
    assert "lumen_alert_suppressed 0.0" in await scrape(client)


async def test_global_flag_by_environment(make_client: AppFactory) -> None:
    client = await make_client(LUMEN_ALERT_SUPPRESSED="1", **NOWHERE)
    metrics = await scrape(client)
    assert "lumen_alert_suppressed 1.0" in metrics
    answer = await post(client, payload(n=2))
    assert answer["suppressed"] == 2
    assert 'lumen_bridge_alerts_suppressed_total{reason="flag"} 2.0' in await scrape(client)
    assert await item_actions(client) == []


async def test_resolve_closes_a_ticket_opened_before_the_flag(
    client: TestClient[Any, Any], clock: FakeClock
) -> None:
    assert (await post(client, payload(labels=TICKET)))["queued"] == 1
    await add_silence(client, matchers=[])
    clock.advance(minutes=11)  # a reminder is due, but the flag holds it back
    assert (await post(client, payload(labels=TICKET)))["suppressed"] == 1
    clock.advance(minutes=1)
    assert (await post(client, payload("resolved", labels=TICKET)))["queued"] == 1
    assert await item_actions(client) == ["open", "resolve"]
    [incident] = await incidents(client)
    assert (incident.status, incident.held) == ("resolved", False)


async def test_resolve_of_an_incident_nobody_was_told_of_stays_quiet(
    client: TestClient[Any, Any],
) -> None:
    await add_silence(client)
    await post(client, payload())
    answer = await post(client, payload("resolved"))
    assert (answer["ignored"], answer["queued"]) == (1, 0)
    [incident] = await incidents(client)
    assert (incident.status, incident.held) == ("resolved", False)


# --- the OpenAPI description ---------------------------------------------------------------


async def test_openapi_describes_the_silence_api(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    post_op = spec["paths"]["/silence"]["post"]
    request_schema = post_op["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema == {"$ref": "#/components/schemas/PostableSilence"}
    postable = schemas["PostableSilence"]
    assert postable["required"] == ["matchers"]
    assert set(postable["properties"]) == {
        "matchers", "startsAt", "endsAt", "duration", "createdBy", "comment",
        "untilResolved", "grace", "schedule",
    }  # fmt: skip
    assert set(schemas["SilenceMatcher"]["properties"]) == {"name", "value", "isRegex", "isEqual"}

    # what the server answers is what the description says, field for field and code for code
    created = await add_silence(client, comment="x")
    gettable = schemas["GettableSilence"]
    assert set(created) == set(gettable["required"])
    # the bridge's own fields, left out when unset
    assert set(gettable["properties"]) - set(created) == {
        "untilResolved", "grace", "schedule", "nextWindow"
    }  # fmt: skip
    assert schemas["SilenceStatus"]["properties"]["state"]["enum"] == [
        "pending", "active", "expired"
    ]  # fmt: skip
    paths = spec["paths"]
    answers = [
        ("post", "/silence", await client.post("/silence", json={}, headers=ADMIN)),
        ("post", "/silence", await client.post("/silence", json={})),
        ("post", "/silence", await client.post("/silence", data="x", headers=ADMIN)),
        ("get", "/silence", await client.get("/silence?state=x", headers=ADMIN)),
        ("get", "/silence", await client.get("/silence", headers=ADMIN)),
        ("get", "/silence/{id}", await client.get("/silence/x", headers=ADMIN)),
        ("delete", "/silence/{id}", await client.delete(f"/silence/{created['id']}")),
        (
            "delete",
            "/silence/{id}",
            await client.delete(f"/silence/{created['id']}", headers=ADMIN),
        ),
    ]
    for method, path, response in answers:
        assert str(response.status) in paths[path][method]["responses"], (method, path)
        assert paths[path][method]["security"] == [{"bearer": []}]
