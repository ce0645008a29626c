"""Stage 3, suppress: the global flag and silences hold notifications back.

A resolve is never held back: every receiver told of the firing hears of its end.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lumen_bridge.matchers import Matcher, matches_all


class SuppressedBy(enum.StrEnum):
    """The ``reason`` label of ``lumen_bridge_alerts_suppressed_total``."""

    FLAG = "flag"
    SILENCE = "silence"


@dataclass(frozen=True)
class Suppression:
    """The suppression in force at one moment: the flag, and the active silences' matchers."""

    flag: bool = False
    silences: Sequence[Sequence[Matcher]] = ()

    def reason(self, labels: Mapping[str, str]) -> SuppressedBy | None:
        """Why a notification for ``labels`` is held back, or None when it may go."""
        if self.flag:
            return SuppressedBy.FLAG
        if any(matches_all(list(m), labels) for m in self.silences):
            return SuppressedBy.SILENCE
        return None
