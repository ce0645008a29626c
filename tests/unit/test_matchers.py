"""Alertmanager matcher semantics, their text and API forms, and what suppression makes of
them (the router's first-match/continue rules: tests/test_matchers_routing.py)."""

from __future__ import annotations

import pickle
import re
import time

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
from lumen_bridge.domain.suppression import SuppressedBy, Suppression, usable_matchers


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


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('x=~"a.b"', {"x": "a-b"}, True),
        ('x=~"a.b"', {"x": "a\nb"}, False),  # `.` is not a newline, as in Go and Alertmanager
        ('x=~"(?s)a.b"', {"x": "a\nb"}, True),  # unless the pattern says so
        ('x=~"a$"', {"x": "a\n"}, False),  # `$` is the end of the text, not of a line
        ('x=~"a|ab"', {"x": "ab"}, True),  # anchored as a whole, not its first alternative
        ('x=~"(?i)PDF"', {"x": "pdf"}, True),
        ('x=~"é+[^a]"', {"x": "ééé"}, True),  # characters, not bytes
        ('x=~"\\d+"', {"x": "12"}, True),
        ('x=~"\\d+"', {"x": "١٢"}, False),  # Go's \d: ASCII digits only
        ('x=~"\\w+"', {"x": "é"}, False),  # Go's \w: ASCII word characters only
        ('x=~"(?P<name>a)+"', {"x": "aa"}, True),
        ('  x  =~  "a b"  ', {"x": "a b"}, True),  # space around the parts, not in the quotes
        ("x=a b ", {"x": "a b"}, True),
    ],
)
def test_regexes_follow_go_and_alertmanager(
    text: str, labels: dict[str, str], expected: bool
) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a)\\1", "backreferences such as \\1 are not supported"),
        ("(?P<x>a)(?P=x)", "backreferences"),
        ("(?=a)a", "lookahead"),
        ("x(?!a)", "lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(?<!a)b", "lookbehind"),
        ("(?>a+)", "atomic groups"),
        ("a*+", "possessive repetitions"),
        ("a\\Z", "write \\z"),
        ("(?(1)a|b)", "conditionals"),
        ("caf\\u00e9", "write \\x{...}"),
    ],
)
def test_what_only_backtracking_engines_know_is_refused_in_plain_words(
    pattern: str, reason: str
) -> None:
    with pytest.raises(MatcherError) as caught:
        Matcher("x", pattern, "=~")
    message = str(caught.value)
    assert reason in message
    assert repr(pattern) in message
    assert message.endswith("(RE2 syntax, as in Alertmanager)")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "missing )"),
        ("a)|(b", "unexpected )"),  # Alertmanager's silences refuse it too: not a regex alone
        ("a{1001}", "repetition"),
        ("[z-a]", "invalid character class range"),
        ("\\pL{1000}", "too large"),  # a thousand copies of every letter of Unicode
        ("\ud800", "lone surrogate"),
    ],
)
def test_invalid_regexes_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(MatcherError, match=re.escape(reason)):
        Matcher("x", pattern, "!~")


def test_a_pathological_pattern_takes_linear_time() -> None:
    """``(a+)+b`` on n ``a``s takes 2**n steps with backtracking; RE2 reads each once."""
    matcher = Matcher("rx", "(a+)+b", "=~")
    started = time.monotonic()
    assert not matcher.matches({"rx": "a" * 100_000})
    assert matcher.matches({"rx": "a" * 100_000 + "b"})
    assert time.monotonic() - started < 5  # milliseconds; backtracking: longer than the universe


def test_a_matcher_travels_by_pickle_with_its_regex() -> None:
    """Settings go to the writer process by pickle: the regex is compiled again there."""
    matcher = pickle.loads(pickle.dumps(Matcher("stage", "pdf|upload", "=~")))  # noqa: S301
    assert matcher == Matcher("stage", "pdf|upload", "=~")
    assert matcher.matches({"stage": "upload"})
    assert not matcher.matches({"stage": "uploads"})


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


# -- RE2 agrees with Python's re where their syntax and meaning are the same ------------------

# No newline (`.` differs), no character outside ASCII for \d \s \w (Go's are ASCII).
ALPHABET = "ab1 -.é"
atoms = st.sampled_from(list(ALPHABET)).map(re.escape) | st.sampled_from(
    [".", "[ab]", "[^a]", "[a-c1]", "[0-9]", "[é-]", "[^é ]"]
)


def _combine(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lists = st.lists(parts, min_size=1, max_size=3)
    return st.one_of(
        lists.map("".join),
        lists.map(lambda alternatives: "(?:" + "|".join(alternatives) + ")"),
        st.tuples(parts, st.sampled_from(["*", "+", "?", "{2}", "{0,2}"])).map(
            lambda repeated: f"(?:{repeated[0]}){repeated[1]}"
        ),
    )


simple_patterns = st.lists(st.recursive(atoms, _combine, max_leaves=8), min_size=1, max_size=3).map(
    "|".join  # an alternation at the top, too: anchoring must hold for all of it
)


@settings(max_examples=500, deadline=None)
@given(pattern=simple_patterns, data=st.data())
def test_re2_and_python_re_agree_on_simple_patterns(pattern: str, data: st.DataObject) -> None:
    texts = st.text(alphabet=ALPHABET, max_size=10) | st.from_regex(pattern, fullmatch=True)
    text = data.draw(texts.filter(lambda t: "\n" not in t), label="text")
    expected = re.fullmatch(pattern, text) is not None
    assert Matcher("x", pattern, "=~").matches({"x": text}) is expected
    assert Matcher("x", pattern, "!~").matches({"x": text}) is not expected


def test_a_stored_silence_this_version_refuses_holds_nothing() -> None:
    """A pattern an earlier version accepted (Python ``re``) but RE2 refuses: the silence is
    skipped, as Alertmanager skips one it cannot use, instead of failing every webhook."""
    lookahead = [{"name": "rx", "value": "(?=a)a+", "isRegex": True, "isEqual": True}]
    fine = [{"name": "rx", "value": "b+", "isRegex": True, "isEqual": True}]
    assert usable_matchers(lookahead) == []
    suppression = Suppression.of(False, [lookahead, fine])
    assert suppression.reason({"rx": "aaa"}) is None
    assert suppression.reason({"rx": "bbb"}) is SuppressedBy.SILENCE
