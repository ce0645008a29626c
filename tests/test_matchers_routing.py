"""Alertmanager matcher semantics and the router's first-match/continue rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lumen_bridge.config import load_settings
from lumen_bridge.matchers import (
    Matcher,
    MatcherError,
    Operator,
    from_api,
    matches_all,
    parse_matcher,
    to_api,
)
from lumen_bridge.pipeline.route import Router


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="page"', {"severity": "page"}, True),
        ("severity=page", {"severity": "pages"}, False),
        ("env!=dev", {"env": "prod"}, True),
        ("env!=dev", {}, True),
        ('stage=~"pdf|upload"', {"stage": "pdf"}, True),
        ('stage=~"pdf|upload"', {"stage": "pdfx"}, False),  # anchored
        ('stage=~"pd"', {"stage": "pdf"}, False),
        ("x!~y.*", {"x": "yes"}, False),
        ("x!~y.*", {"x": "no"}, True),
        ('missing=""', {}, True),
        ('msg="say \\"hi\\""', {"msg": 'say "hi"'}, True),
    ],
)
def test_matcher_semantics(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("bad", ["", "severity", "=page", 'a=~"("', 'a="unclosed', "1a=b"])
def test_bad_matchers(bad: str) -> None:
    with pytest.raises(MatcherError):
        parse_matcher(bad)


def test_matchers_are_anded() -> None:
    matchers = [parse_matcher("a=1"), parse_matcher("b!=2")]
    assert matches_all(matchers, {"a": "1", "b": "3"})
    assert not matches_all(matchers, {"a": "1", "b": "2"})
    assert matches_all([], {"anything": "x"})


@given(
    name=st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
    value=st.text(max_size=20),
    op=st.sampled_from(["=", "!=", "=~", "!~"]),
)
def test_text_and_api_forms_round_trip(name: str, value: str, op: Operator) -> None:
    try:
        matcher = Matcher(name, value, op)
    except MatcherError:
        return  # a value that is not a valid regex
    assert parse_matcher(str(matcher)) == matcher
    assert from_api(to_api(matcher)) == matcher


def test_default_routes_follow_severity() -> None:
    router = Router(load_settings(None, environ={}))
    assert [r.receiver.name for r in router.route({"severity": "page"})] == ["oncall"]
    assert [r.receiver.name for r in router.route({"severity": "ticket"})] == ["backlog"]
    assert [r.receiver.name for r in router.route({"severity": "warning"})] == ["default"]
    assert [r.receiver.name for r in router.route({})] == ["default"]


def test_continue_and_per_route_windows(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers:\n"
        "  - {name: a, type: webhook, url: 'http://127.0.0.1:1/a'}\n"
        "  - {name: b, type: webhook}\n"
        "routes:\n"
        "  - {matchers: ['team=~\"db|web\"'], receiver: a, continue: true, dedup_window: 1h}\n"
        "  - {matchers: ['team=db'], receiver: b}\n"
        "  - {receiver: a}\n"
    )
    router = Router(load_settings(config, environ={}))
    routes = router.route({"team": "db"})
    assert [r.receiver.name for r in routes] == ["a", "b"]
    assert routes[0].dedup_window.total_seconds() == 3600
    assert routes[1].reopen_window.total_seconds() == 600
    assert [r.receiver.name for r in router.route({"team": "web"})] == ["a"]
    assert [r.receiver.name for r in router.route({"team": "ops"})] == ["a"]
