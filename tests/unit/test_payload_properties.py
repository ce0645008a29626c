"""Hostile webhook bodies: ``parse`` returns a storable payload or a ``Rejected``, never raises."""

from __future__ import annotations

import json
import pickle
from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumen_bridge.domain.alertmanager import Rejected, WebhookPayload, parse, storable

MEGABYTE = "x" * 1_000_000
HOSTILE_CHARS = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff", "\r", "\n", '"', "\\", "\u2028"]


def valid_body() -> dict[str, Any]:
    """A minimal valid version-4 payload."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="A"}',
        "status": "firing",
        "receiver": "lumen",
        "groupLabels": {"alertname": "A"},
        "commonLabels": {"alertname": "A"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "A", "severity": "page"},
                "annotations": {"summary": "s"},
                "startsAt": "2026-11-26T11:53:38.159278263Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "f00d",
            }
        ],
    }


texts = st.one_of(
    st.text(st.one_of(st.characters(), st.sampled_from(HOSTILE_CHARS)), max_size=20),
    st.sampled_from([MEGABYTE, MEGABYTE + "\x00", "\ud800" + MEGABYTE]),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-05:00",
            "9999-12-31T23:59:59.999999999Z",
            "0001-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26T11:53:60Z",
        ]
    ),
)
scalars = st.one_of(
    texts,
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1]),
    st.floats(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)
TOP_KEYS = [*valid_body(), "truncatedAlerts", "group_key", "routeLabels"]
ALERT_KEYS = [*valid_body()["alerts"][0], "ends_at"]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A valid payload with a few fields replaced by hostile values, as JSON bytes."""
    body = valid_body()
    alert = body["alerts"][0]
    targets = [
        (body, TOP_KEYS),
        (alert, ALERT_KEYS),
        (alert["labels"], ["alertname", "job"]),
        (alert["annotations"], ["summary"]),
        (body["commonLabels"], ["alertname"]),
    ]
    for _ in range(draw(st.integers(0, 4))):
        target, keys = draw(st.sampled_from(targets))
        key = draw(st.sampled_from(keys) | texts)
        target[key] = draw(values)  # a map replaced earlier is still changed: no matter
    ascii_only = draw(st.booleans())  # else lone surrogates become bytes that are not UTF-8
    text = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    depth = draw(st.sampled_from([0, 0, 10, 5_000, 200_000]))
    if depth:  # an unknown field nested deeper than any parser's recursion limit
        text = b'{"deep": ' + b"[" * depth + b"]" * depth + b", " + text[1:]
    return text


def strings(value: Any) -> list[str]:
    """Every string in ``value`` (a dumped model), keys too."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_parse_returns_a_storable_payload_or_a_rejection(body: bytes) -> None:
    result = parse(body)
    if isinstance(result, WebhookPayload):
        assert all(storable(s) for s in strings(result.model_dump()))
        for alert in result.alerts:  # each time exists in UTC, where it is stored
            alert.starts_at.astimezone(UTC)
            assert alert.ends_at is None or alert.ends_at.astimezone(UTC)
    else:
        assert isinstance(result, Rejected)
        assert result.problems
        assert all(
            isinstance(p["msg"], str) and isinstance(p["loc"], tuple) for p in result.problems
        )
        # it crosses the writer process's pipe (our own bytes: unpickling them is safe)
        assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301


@given(
    st.sampled_from(["groupKey", "receiver", "externalURL", "fingerprint", "label", "annotation"]),
    st.sampled_from(["\x00", "\ud800", "\udfff"]),
    st.text(max_size=5),
)
def test_unstorable_text_in_any_field_is_refused_by_name(
    field: str, char: str, around: str
) -> None:
    body = valid_body()
    alert = body["alerts"][0]
    bad = around + char + around
    where: dict[str, Any] = {
        "groupKey": body,
        "receiver": body,
        "externalURL": body,
        "fingerprint": alert,
    }.get(field, alert["labels"] if field == "label" else alert["annotations"])
    key = field if field in ("groupKey", "receiver", "externalURL", "fingerprint") else "x"
    where[key] = bad
    result = parse(json.dumps(body).encode())
    assert isinstance(result, Rejected)
    locs = [p["loc"] for p in result.problems]
    assert locs[0][-1] == key


def test_unknown_fields_are_ignored_unless_they_are_not_json() -> None:
    body = valid_body()
    body["futureField"] = {"note": "\x00"}
    body["alerts"][0]["futureField"] = "\x00"
    assert isinstance(parse(json.dumps(body).encode()), WebhookPayload)
    body["futureField"] = "\ud800"  # the JSON parser refuses a lone surrogate anywhere
    rejected = parse(json.dumps(body).encode())
    assert isinstance(rejected, Rejected)
    assert [p["type"] for p in rejected.problems] == ["json_invalid"]
