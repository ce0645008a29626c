"""Alertmanager matcher semantics, their text and API forms, and what suppression makes of
them (the router's first-match/continue rules: tests/test_matchers_routing.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen_bridge.domain.matchers import (
    Matcher,
    MatcherError,
    Operator,
    from_api,
    matches_all,
    parse_matcher,
    to_api,
)
from lumen_bridge.domain.suppression import SuppressedBy, Suppression


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


# -- suppression ---------------------------------------------------------------------------


def api(name: str, value: str, *, regex: bool = False, equal: bool = True) -> dict[str, object]:
    """One matcher in Alertmanager's JSON shape."""
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


PAGE = {"alertname": "LumenStageFailed", "severity": "page", "stage": "pdf"}


def test_nothing_in_force_holds_nothing_back() -> None:
    assert Suppression().reason(PAGE) is None
    assert Suppression.of(False, []).reason(PAGE) is None


def test_the_flag_wins() -> None:
    suppression = Suppression.of(True, [[api("stage", "pdf")]])
    assert suppression.flag
    assert suppression.reason(PAGE) is SuppressedBy.FLAG
    assert suppression.reason({"alertname": "Other"}) is SuppressedBy.FLAG


def test_a_silence_without_matchers_raises_the_flag() -> None:
    suppression = Suppression.of(False, [[api("stage", "upload")], []])
    assert suppression.flag
    assert len(suppression.silences) == 1
    assert suppression.reason({"alertname": "Other"}) is SuppressedBy.FLAG


@pytest.mark.parametrize(
    ("silences", "expected"),
    [
        ([[api("stage", "pdf")]], SuppressedBy.SILENCE),
        ([[api("stage", "upload")]], None),
        ([[api("stage", "pdf|upload", regex=True)]], SuppressedBy.SILENCE),
        ([[api("stage", "pd", regex=True)]], None),  # anchored
        ([[api("severity", "page", equal=False)]], None),
        ([[api("stage", "pdf"), api("severity", "ticket")]], None),  # a silence ANDs
        ([[api("stage", "upload")], [api("severity", "page")]], SuppressedBy.SILENCE),  # ORs
        ([[api("team", "")]], SuppressedBy.SILENCE),  # an absent label is ""
    ],
)
def test_a_matching_silence_holds_back(
    silences: list[list[dict[str, object]]], expected: SuppressedBy | None
) -> None:
    suppression = Suppression.of(False, silences)
    assert not suppression.flag
    assert suppression.reason(PAGE) is expected


# -- properties ----------------------------------------------------------------------------

names = st.sampled_from(["alertname", "severity", "stage", "env"])
label_values = st.text(max_size=8) | st.sampled_from(["", "pdf", "a.b", "a|b", "(x)", "\n"])


@st.composite
def labelled(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """A matcher's name and value, and labels that hold that value about half the time."""
    name, value = draw(names), draw(label_values)
    labels = draw(st.dictionaries(names, label_values, max_size=4))
    if draw(st.booleans()):
        labels[name] = value
    return name, value, labels


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(labelled())
def test_an_escaped_literal_regex_is_equality(case: tuple[str, str, dict[str, str]]) -> None:
    name, value, labels = case
    equal = Matcher(name, value, "=").matches(labels)
    assert Matcher(name, re.escape(value), "=~").matches(labels) is equal
    assert Matcher(name, re.escape(value), "!~").matches(labels) is not equal
    assert equal is (labels.get(name, "") == value)


@PROPERTY
@given(labelled(), st.sampled_from(["", ".*", "p.f", "pdf|upload", "a+", "[", "\\n"]))
def test_negation_inverts(case: tuple[str, str, dict[str, str]], pattern: str) -> None:
    name, value, labels = case
    assert Matcher(name, value, "!=").matches(labels) is not Matcher(name, value, "=").matches(
        labels
    )
    for regex in (value, pattern):
        try:
            hit = Matcher(name, regex, "=~").matches(labels)
        except MatcherError:
            continue  # not a regular expression
        assert Matcher(name, regex, "!~").matches(labels) is not hit
