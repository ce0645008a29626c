"""Stage 4, suppress: what may not be sent now, and what cannot be sent at all.

A notification of a firing (``open``, ``update``, ``reopen``) is held back while the
global flag is raised or an active silence matches the alert's labels: its incident is
marked ``held``, and the case closes as ``suppressed``; when the silence ends, the replay
(:mod:`lumen_bridge.pipeline.replay`) sends it. A resolve is never held back: every
receiver told of the firing hears of its end. A receiver without a destination (a default
webhook with no URL) only records: ``ignored``, ``no-destination``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from lumen_bridge.domain.dedup import Action
from lumen_bridge.domain.suppression import Suppression
from lumen_bridge.pipeline.batch import Batch, Case, Outcome
from lumen_bridge.store import silences

__all__ = ["SuppressStage", "suppression_at"]


def suppression_at(connection: Connection, now: datetime, flag: bool) -> Suppression:
    """The suppression in force at ``now``: the configured ``flag`` and the active silences."""
    return Suppression.of(flag, silences.active_matchers(connection, now))


class SuppressStage:
    """Holds back, or drops, a case's notification."""

    def __call__(self, batch: Batch, case: Case) -> None:
        """Close ``case`` if its notification is held back or has nowhere to go."""
        incident, decision = case.decided()
        held_by = None
        if decision.action is not Action.RESOLVE:
            held_by = batch.suppression.reason(case.alert.labels)
        if held_by is not None:
            incident.held = True
            case.suppressed_by = held_by.value
            case.close(Outcome.SUPPRESSED, held_by.value)
        elif not case.route.receiver.has_destination:
            case.close(Outcome.IGNORED, "no-destination")
