"""What holds a notification back: the global flag, or an active silence that matches.

The pipeline's suppress stage asks (:mod:`lumen_bridge.pipeline.suppress`); a resolve is
never held back there: every receiver told of the firing hears of its end.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lumen_bridge.domain.matchers import Matcher, MatcherError, from_api, matches_all


def usable_matchers(matchers: Sequence[Mapping[str, object]]) -> list[Matcher]:
    """A stored silence's matchers; none, so that it holds nothing back, when one of them
    is a pattern this version refuses (stored by an earlier one): Alertmanager too skips a
    silence it cannot use rather than failing every alert."""
    try:
        return [from_api(m) for m in matchers]
    except MatcherError:
        return []


class SuppressedBy(enum.StrEnum):
    """The ``reason`` label of ``lumen_bridge_alerts_suppressed_total``."""

    FLAG = "flag"
    SILENCE = "silence"


@dataclass(frozen=True)
class Suppression:
    """The suppression in force at one moment: the flag, and the active silences' matchers."""

    flag: bool = False
    silences: Sequence[Sequence[Matcher]] = ()

    @classmethod
    def of(cls, flag: bool, matcher_lists: Iterable[Sequence[Mapping[str, object]]]) -> Suppression:
        """The suppression of the configured ``flag`` and the silences in force, each given by
        its matchers in Alertmanager's JSON shape (a silence without any raises the flag)."""
        lists = list(matcher_lists)
        return cls(
            flag=flag or any(not matchers for matchers in lists),
            silences=[usable for usable in map(usable_matchers, lists) if usable],
        )

    def reason(self, labels: Mapping[str, str]) -> SuppressedBy | None:
        """Why a notification for ``labels`` is held back, or None when it may go."""
        if self.flag:
            return SuppressedBy.FLAG
        if any(matches_all(list(m), labels) for m in self.silences):
            return SuppressedBy.SILENCE
        return None
