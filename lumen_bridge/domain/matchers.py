"""Alertmanager label matchers: ``name="value"``, ``name!=value``, ``name=~"re"``, ``name!~"re"``.

Regular expressions are fully anchored, as in Alertmanager: ``stage=~"pdf|upload"``
matches ``pdf`` but not ``pdfx``. A label that is absent has the value ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Operator = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$""",
    re.DOTALL,
)


_OPERATORS: dict[str, Operator] = {"=": "=", "!=": "!=", "=~": "=~", "!~": "!~"}


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled."""


@dataclass(frozen=True)
class Matcher:
    """One label matcher with Alertmanager semantics."""

    name: str
    value: str
    op: Operator = "="
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                compiled = re.compile(f"(?:{self.value})", re.DOTALL)
            except re.error as exc:
                raise MatcherError(f"invalid regular expression {self.value!r}: {exc}") from exc
            object.__setattr__(self, "_regex", compiled)

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
    return Matcher(match.group("name"), _unquote(match.group("value")), op)


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
