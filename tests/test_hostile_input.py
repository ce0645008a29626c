"""Hostile input: every bad input gets a clear 4xx and changes nothing; no token is logged."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from lumen_bridge.logs import redact
from tests.conftest import ADMIN_TOKEN, ALERT_TOKEN, auth, payload, post
from tests.helpers import count_events, incidents
from tests.procs import serve
from tests.servers import eventually

JSON = {"Content-Type": "application/json"}
ADMIN = auth(ADMIN_TOKEN)

Mutation = Callable[[dict[str, Any], str], None]

# where a string of the payload can hide a bad character, and the field the answer must name
# ("{}": the character, escaped)
FIELDS: list[tuple[Mutation, list[Any]]] = [
    (lambda b, c: b["alerts"][0].update(fingerprint=f"f{c}"), ["alerts", 0, "fingerprint"]),
    (lambda b, c: b.update(groupKey=f"g{c}"), ["groupKey"]),
    (lambda b, c: b.update(receiver=f"r{c}"), ["receiver"]),
    (lambda b, c: b.update(externalURL=f"http://am{c}"), ["externalURL"]),
    (
        lambda b, c: b["alerts"][0].update(generatorURL=f"http://p{c}"),
        ["alerts", 0, "generatorURL"],
    ),
    (lambda b, c: b["alerts"][0]["labels"].update(job=f"j{c}"), ["alerts", 0, "labels", "job"]),
    (
        lambda b, c: b["alerts"][0]["labels"].update({f"n{c}": "v"}),
        ["alerts", 0, "labels", "n{}", "[key]"],
    ),
    (
        lambda b, c: b["alerts"][0]["annotations"].update(summary=f"s{c}"),
        ["alerts", 0, "annotations", "summary"],
    ),
    (
        lambda b, c: b["alerts"][0]["annotations"].update({f"a{c}": "v"}),
        ["alerts", 0, "annotations", "a{}", "[key]"],
    ),
    (lambda b, c: b["commonLabels"].update(job=f"j{c}"), ["commonLabels", "job"]),
]


async def expect_error(response: Any, status: int) -> dict[str, Any]:
    """The answer is a JSON error with ``status``, without any token."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert ALERT_TOKEN not in json.dumps(body) and ADMIN_TOKEN not in json.dumps(body)
    return body


async def nothing_stored(client: TestClient[Any, Any]) -> None:
    assert await incidents(client) == []
    assert await count_events(client) == 0


async def raw_request(client: TestClient[Any, Any], request: bytes) -> bytes:
    """Send ``request`` as it is, over a plain socket; the whole answer."""
    assert client.port is not None
    return await raw_exchange("127.0.0.1", client.port, request)


async def raw_exchange(host: str, port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()


# --- 1. NUL and lone surrogates in the webhook payload ---------------------------------------


@pytest.mark.parametrize(("char", "shown"), [("\x00", "\\x00"), ("\ud800", "\\ud800")])
async def test_unstorable_text_is_422_naming_the_field(
    client: TestClient[Any, Any], char: str, shown: str
) -> None:
    for mutate, loc in FIELDS:
        body = payload()
        mutate(body, char)
        data = json.dumps(body).encode()  # the character travels as a \u escape
        response = await client.post("/webhook", data=data, headers=auth() | JSON)
        error = await expect_error(response, 422)
        expected = [part.format(shown) if isinstance(part, str) else part for part in loc]
        assert [d["loc"] for d in error["details"]] == [expected]
        assert "NUL" in error["details"][0]["msg"]
    await nothing_stored(client)
    assert (await post(client, payload()))["queued"] == 1  # and the bridge still takes webhooks


async def test_valid_escapes_are_still_accepted(client: TestClient[Any, Any]) -> None:
    """A surrogate pair is one character, an escaped backslash before ``u0000`` is no NUL."""
    body = payload(labels={"summary_emoji": "\U0001f525", "path": "C:\\u0000"})
    data = json.dumps(body).encode()
    assert b"\\ud83d\\udd25" in data and b"\\\\u0000" in data
    response = await client.post("/webhook", data=data, headers=auth() | JSON)
    assert response.status == 200, await response.text()
    [incident] = await incidents(client)
    assert incident.labels["summary_emoji"] == "\U0001f525"
    assert incident.labels["path"] == "C:\\u0000"


# --- 2. timestamps at the edge of the calendar -----------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("startsAt", "0001-01-01T00:00:00+14:00"),
        ("startsAt", "9999-12-31T23:59:59-05:00"),
        ("endsAt", "9999-12-31T23:59:59-05:00"),
    ],
)
async def test_times_outside_utc_years_are_422(
    client: TestClient[Any, Any], field: str, value: str
) -> None:
    body = payload("resolved")
    body["alerts"][0][field] = value
    response = await client.post("/webhook", json=body, headers=auth())
    error = await expect_error(response, 422)
    assert [d["loc"] for d in error["details"]] == [["alerts", 0, field]]
    await nothing_stored(client)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda b: b["alerts"][0].update(startsAt=0), ["alerts", 0, "startsAt"]),
        (lambda b: b["alerts"][0].update(endsAt=1.5e9), ["alerts", 0, "endsAt"]),
        (lambda b: b.update(truncatedAlerts="5"), ["truncatedAlerts"]),
    ],
    ids=["startsAt-number", "endsAt-number", "count-string"],
)
async def test_numbers_are_no_times_and_strings_no_counts(
    client: TestClient[Any, Any], mutate: Callable[[dict[str, Any]], None], loc: list[Any]
) -> None:
    body = payload()
    mutate(body)
    response = await client.post("/webhook", data=json.dumps(body), headers=auth() | JSON)
    error = await expect_error(response, 422)
    assert [d["loc"] for d in error["details"]] == [loc]
    await nothing_stored(client)


async def test_times_at_the_edge_but_inside_are_stored(client: TestClient[Any, Any]) -> None:
    body = payload("resolved", starts_at="0001-01-01T00:00:00-05:00")
    body["alerts"][0]["endsAt"] = "9999-12-31T23:59:59.999999Z"
    assert (await post(client, body))["alerts"] == 1
    [incident] = await incidents(client)
    assert (incident.starts_at.year, incident.starts_at.hour) == (1, 5)
    assert incident.ends_at.year == 9999
    firing = payload(fingerprint="not-ended")  # endsAt 0001-01-01T00:00:00Z: not ended
    assert (await post(client, firing))["queued"] == 1
    assert [i.ends_at for i in await incidents(client) if i.identity == "not-ended"] == [None]


# --- 3. incident ids -------------------------------------------------------------------------


async def test_incident_ids_beyond_64_bits_are_404(client: TestClient[Any, Any]) -> None:
    for raw in ("99999999999999999999", str(2**63), str(2**63 - 1), "0" * 50 + "1"):
        await expect_error(await client.get(f"/incidents/{raw}", headers=ADMIN), 404)
    for raw in ("\u0663", "\u00b2", "-1", "1e3"):  # an Arabic-Indic 3, a superscript 2
        await expect_error(await client.get(f"/incidents/{raw}", headers=ADMIN), 400)


async def test_unstorable_incident_filters_are_400(client: TestClient[Any, Any]) -> None:
    await post(client, payload())
    for query in ("receiver=%00", "alertname=a%00b"):
        error = await expect_error(await client.get(f"/incidents?{query}", headers=ADMIN), 400)
        assert query.split("=")[0] in error["error"]
    # bytes that are not UTF-8 are decoded as U+FFFD: no surrogate, a value that matches nothing
    response = await client.get("/incidents?receiver=%ED%A0%80", headers=ADMIN)
    assert (response.status, await response.json()) == (200, {"incidents": []})


# --- 4. an Authorization header that is not UTF-8 -------------------------------------------


@pytest.mark.parametrize("request_line", [b"GET /incidents", b"POST /webhook", b"GET /silence/x"])
async def test_authorization_not_utf8_is_401(
    client: TestClient[Any, Any], request_line: bytes
) -> None:
    answer = await raw_request(
        client,
        request_line + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xc3\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer
    assert b'"error"' in answer
    await nothing_stored(client)


# --- 5. no token in the log, even for a request aiohttp cannot parse ------------------------


def test_bad_requests_never_log_a_token(tmp_path: Path) -> None:
    secret = "tok-" + "s3cr3t" * 4
    env = {
        "LUMEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}",
        "LUMEN_ALERT_TOKEN": secret,
        "LUMEN_ADMIN_TOKEN": secret,
    }
    bearer = b"Authorization: Bearer " + secret.encode()
    requests = [
        b"GET /incidents HTTP/1.1\r\nHost: x\r\n" + bearer + b"\x00\r\n\r\n",  # NUL in the header
        b"GET /incidents HTTP/1.1\r\nHost: x\r\nAuthorization: \x00Bearer "
        + secret.encode()
        + b"\r\n\r\n",
        b"GET /inci\x00dents HTTP/1.1\r\nHost: x\r\n" + bearer + b"\r\n\r\n",  # in the line
        b"GET /incidents HTTP/1.1\r\nX-Other: a\x00b\r\n" + bearer + b"\r\n\r\n",
    ]
    with serve(tmp_path, env) as base:
        host, port = base.removeprefix("http://").split(":")
        log = tmp_path / f"serve-{port}.log"

        async def send_all() -> None:
            for request in requests:
                answer = await raw_exchange(host, int(port), request)
                assert answer.split(b" ", 2)[1] == b"400", answer  # aiohttp's own answer
                assert secret.encode() not in answer  # which does not quote the raw line
            await eventually(
                lambda: log.read_text().count("Error handling request") >= len(requests), 30
            )

        asyncio.run(send_all())
    text = log.read_text(errors="replace")
    assert "Error handling request" in text  # the bad requests were logged...
    assert secret not in text  # ...without the token
    assert "s3cr3t" not in text


# --- 6. methods the API does not serve -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/incidents", {"GET", "HEAD"}),
        ("OPTIONS", "/webhook", {"POST"}),
        ("PUT", "/silence/x", {"GET", "HEAD", "DELETE"}),
        ("PATCH", "/silence", {"GET", "HEAD", "POST"}),
    ],
)
async def test_405_names_the_allowed_methods(
    client: TestClient[Any, Any], method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path, headers=ADMIN)
    await expect_error(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


# --- silences refuse what cannot be stored too ----------------------------------------------


@pytest.mark.parametrize(("char", "status"), [("\x00", 422), ("\ud800", 400)])
async def test_unstorable_silence_text_is_refused(
    client: TestClient[Any, Any], char: str, status: int
) -> None:
    """A NUL is named; a lone surrogate is refused by the JSON parser, as not JSON at all."""
    silence = {
        "matchers": [{"name": "alertname", "value": "A", "isRegex": False}],
        "duration": "1h",
        "comment": f"c{char}",
    }
    data = json.dumps(silence).encode()
    response = await client.post("/silence", data=data, headers=ADMIN | JSON)
    error = await expect_error(response, status)
    if status == 422:
        assert [d["loc"] for d in error["details"]] == [["comment"]]
    for state in ("active", "pending", "expired"):
        listed = await client.get(f"/silence?state={state}", headers=ADMIN)
        assert await listed.json() == []


async def test_openapi_says_what_a_silence_needs(client: TestClient[Any, Any]) -> None:
    spec = await (await client.get("/openapi.json")).json()
    postable = spec["components"]["schemas"]["PostableSilence"]
    assert [branch["required"] for branch in postable["oneOf"]] == [
        ["endsAt"], ["duration"], ["untilResolved"]  # the last: neither, until resolved
    ]  # fmt: skip
    assert "duration" in spec["paths"]["/silence"]["post"]["description"]
    assert "expired" in spec["paths"]["/silence/{id}"]["get"]["description"]
    assert "expired" in spec["paths"]["/silence"]["get"]["description"]


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer {}",
        "b'Authorization: Basic {}\\x00'",
        "{{'Authorization': 'Bearer {}'}}",
        '{{"authorization": "{}"}}',
        "token sent as bearer {} here",
    ],
)
def test_redact_hides_every_credential(line: str) -> None:
    secret = "s3cr3t-value"
    redacted = redact(line.format(secret))
    assert secret not in redacted
    assert "[redacted]" in redacted
