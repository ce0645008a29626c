"""Alertmanager label matchers: ``name="value"``, ``name!=value``, ``name=~"re"``, ``name!~"re"``.

Regular expressions are RE2's, the syntax of Go's ``regexp`` that Alertmanager uses, and
they run in time linear in the label's length: no pattern can stall the webhook path.
They are fully anchored, as Alertmanager's ``^(?:re)$``: ``stage=~"pdf|upload"`` matches
``pdf`` but not ``pdfx``; ``.`` does not match a newline unless the pattern says ``(?s)``.
A label that is absent has the value ``""``. What RE2 refuses is refused here,
when the matcher is created (docs/silences.md#regular-expressions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

Operator = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*)$""",
    re.DOTALL,
)


_OPERATORS: dict[str, Operator] = {"=": "=", "!=": "!=", "=~": "=~", "!~": "!~"}


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled."""


class _Regex(Protocol):
    """What a matcher uses of a compiled RE2 pattern."""

    def fullmatch(self, text: str) -> object | None: ...


def _re2_options() -> object:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the caller's error, told in MatcherError
    options.never_capture = True  # only whether it matches: no groups to track
    return options


_RE2_OPTIONS = _re2_options()
_RE2 = "(RE2 syntax, as in Alertmanager)"

# What RE2's error names ("code: what"), and what that means in plain words.
_UNSUPPORTED = (
    (re.compile(r"\\[1-9]|\(\?P$"), "backreferences such as \\1 are not supported"),
    (re.compile(r"\(\?[=!]"), "lookahead (?=...) and (?!...) is not supported"),
    (re.compile(r"\(\?<[=!]"), "lookbehind (?<=...) and (?<!...) is not supported"),
    (re.compile(r"\(\?>"), "atomic groups (?>...) are not supported"),
    (re.compile(r"\(\?\("), "conditionals (?(...)...) are not supported"),
    (re.compile(r".*[*+?}]\+$"), "possessive repetitions such as a*+ are not supported"),
    (re.compile(r"\\Z"), "\\Z is not supported; write \\z, or nothing: the match is anchored"),
    (re.compile(r"\\[uUN]"), "Python's \\u, \\U and \\N escapes are not supported; write \\x{...}"),
)


def _refusal(value: str, error: Exception) -> MatcherError:
    """The plain-words reason RE2 refused ``value``."""
    raw = error.args[0] if error.args else ""
    detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    what = detail.partition(": ")[2]
    for construct, reason in _UNSUPPORTED:
        if construct.match(what):
            return MatcherError(f"regular expression {value!r}: {reason} {_RE2}")
    if detail.startswith("pattern too large"):
        return MatcherError(
            f"regular expression {value!r} is too large to compile (over RE2's memory limit)"
        )
    return MatcherError(f"invalid regular expression {value!r}: {detail} {_RE2}")


def _compile(value: str) -> _Regex:
    try:
        compiled: _Regex = re2.compile(value, _RE2_OPTIONS)
    except re2.error as exc:
        raise _refusal(value, exc) from None
    except UnicodeEncodeError:
        raise MatcherError(
            f"regular expression {value!r} is not valid text (it holds a lone surrogate)"
        ) from None
    return compiled


@dataclass(frozen=True)
class Matcher:
    """One label matcher with Alertmanager semantics; a regex is compiled once, here."""

    name: str
    value: str
    op: Operator = "="
    _regex: _Regex | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", _compile(self.value))

    def __reduce__(self) -> tuple[type[Matcher], tuple[str, str, Operator]]:
        # Pickled (to the writer process) as its text; compiled again on arrival.
        return (Matcher, (self.name, self.value, self.op))

    @property
    def is_regex(self) -> bool:
        """True for ``=~`` and ``!~``."""
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        """True for ``=`` and ``=~`` (Alertmanager's ``isEqual``)."""
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher."""
        value = labels.get(self.name, "")
        if self._regex is not None:
            hit = self._regex.fullmatch(value) is not None
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        out: list[str] = []
        chars = iter(body)
        for ch in chars:
            if ch == "\\":
                nxt = next(chars, "")
                out.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
            elif ch == '"':
                raise MatcherError(f"unescaped quote in {raw!r}")
            else:
                out.append(ch)
        return "".join(out)
    if '"' in raw:
        raise MatcherError(f"unbalanced quotes in {raw!r}")
    return raw


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher in Alertmanager/amtool syntax, e.g. ``stage=~"pdf|upload"``."""
    match = _MATCHER.match(text)
    if match is None:
        raise MatcherError(
            f"bad matcher {text!r}: expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
        )
    op = _OPERATORS[match.group("op")]
    return Matcher(match.group("name"), _unquote(match.group("value").rstrip()), op)


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    """AND of every matcher; an empty list matches everything."""
    return all(m.matches(labels) for m in matchers)


def from_api(data: Mapping[str, object]) -> Matcher:
    """A matcher from Alertmanager's JSON shape (``name``, ``value``, ``isRegex``, ``isEqual``)."""
    is_regex = bool(data.get("isRegex", False))
    is_equal = bool(data.get("isEqual", True))
    op: Operator = ("=~" if is_regex else "=") if is_equal else ("!~" if is_regex else "!=")
    return Matcher(str(data["name"]), str(data["value"]), op)


def to_api(matcher: Matcher) -> dict[str, object]:
    """Alertmanager's JSON shape of ``matcher``."""
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.is_regex,
        "isEqual": matcher.is_equal,
    }
