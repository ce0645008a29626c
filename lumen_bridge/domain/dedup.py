"""The dedup decision table (docs/contract.md §5), as a pure function.

:func:`decide` looks at the incident's current state and one alert and says what the
alert means: a new incident, a repeat, a reminder, a resolve, a stale copy... and which
notification action it calls for. An acknowledged episode gets no reminder
(docs/lifecycle.md). The pipeline's dedup stage applies the decision
(:mod:`lumen_bridge.pipeline.dedup`); suppression and destinations come after it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from lumen_bridge.domain.ack import acknowledged
from lumen_bridge.domain.alertmanager import Alert


class Action(enum.StrEnum):
    """Notification actions (the ticket system's vocabulary; e-mail maps them to pages)."""

    OPEN = "open"
    UPDATE = "update"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    ESCALATE = "escalate"  # a page to an escalation step's receiver (docs/lifecycle.md)


class Reason(enum.StrEnum):
    """Why the decision was taken; shown in the incident timeline."""

    OPEN = "open"  # case 1 and 8: a new incident
    REPEAT = "repeat"  # case 2: firing within the window
    REMIND = "remind"  # case 3: firing after the window since the last notification
    ACKED = "acked"  # case 3 for an acknowledged episode: no reminder
    UNTOLD = "untold"  # still firing, nobody told yet (held back or no destination)
    RESOLVE = "resolve"  # case 4
    RESOLVE_REPEAT = "resolve-repeat"  # case 5
    RESOLVE_UNTOLD = "resolve-untold"  # the resolve of an incident nobody was told of
    STALE = "stale"  # case 6: an older copy (HA peer, late retry)
    REOPEN = "reopen"  # case 7


class IncidentState(Protocol):
    """What ``decide`` needs to know of an incident."""

    @property
    def status(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def last_notified_at(self) -> datetime | None: ...
    @property
    def notified(self) -> bool: ...
    @property
    def notify_seq(self) -> int: ...
    @property
    def acked_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The meaning of one alert for one incident."""

    reason: Reason
    action: Action | None = None
    new_incident: bool = False
    new_episode: bool = False

    @property
    def deduplicated(self) -> bool:
        """A repeat that changes nothing but counters (counted as ``deduplicated``), or the
        reminder of an acknowledged episode."""
        return self.reason in (Reason.REPEAT, Reason.RESOLVE_REPEAT, Reason.ACKED)


def _first_action(incident: IncidentState) -> Action:
    """Tell the receiver of an episode for the first time: open, or reopen its ticket."""
    return Action.REOPEN if incident.notify_seq > 0 else Action.OPEN


def decide(
    incident: IncidentState | None,
    alert: Alert,
    now: datetime,
    window: timedelta,
    reopen_window: timedelta,
) -> Decision:
    """Decide what ``alert`` means for ``incident`` (None: no current incident)."""
    firing = alert.status == "firing"
    if incident is None:
        if firing:
            return Decision(Reason.OPEN, Action.OPEN, new_incident=True)
        return Decision(Reason.RESOLVE_UNTOLD, new_incident=True)

    if firing and incident.status == "firing":
        if alert.starts_at < incident.starts_at:
            return Decision(Reason.STALE)
        if not incident.notified:
            return Decision(Reason.UNTOLD, _first_action(incident))
        if incident.last_notified_at is not None and now - incident.last_notified_at < window:
            return Decision(Reason.REPEAT)
        if acknowledged(incident.acked_at, incident.resolved_at):
            return Decision(Reason.ACKED)
        return Decision(Reason.REMIND, Action.UPDATE)

    if firing:  # the incident is resolved
        if alert.starts_at <= incident.starts_at:
            return Decision(Reason.STALE)
        resolved_at = incident.resolved_at or incident.starts_at
        if now - resolved_at < reopen_window:
            return Decision(Reason.REOPEN, _first_action(incident), new_episode=True)
        return Decision(Reason.OPEN, Action.OPEN, new_incident=True)

    if incident.status == "firing":
        if alert.starts_at < incident.starts_at:
            return Decision(Reason.STALE)
        if incident.notified:
            return Decision(Reason.RESOLVE, Action.RESOLVE)
        return Decision(Reason.RESOLVE_UNTOLD)

    if alert.starts_at == incident.starts_at:
        return Decision(Reason.RESOLVE_REPEAT)
    return Decision(Reason.STALE)
