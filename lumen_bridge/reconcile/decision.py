"""The reconcile decision (docs/reconcile.md), as pure functions.

:func:`merge` combines what the Alertmanager peers answered: a peer that did not answer
says nothing, so an alert is *absent* only when every peer that answered lacks it, and
with no answer at all nothing is absent. :func:`decide` then says, for each firing
incident, what to record and whether to resolve it: absent at two polls in a row (the
second at least ``confirm_after`` after the first, so that two replicas polling one
database count as one poller) resolves it; seen again, or a firing webhook received
since the first absent poll, starts over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lumen_bridge.store.models import AlertmanagerState

__all__ = ["Change", "Plan", "Seen", "Tracked", "decide", "merge"]

Seen = Mapping[str, AlertmanagerState]
"""What one peer, or every peer together, has: each alert's state by fingerprint."""

_PRECEDENCE = (AlertmanagerState.ACTIVE, AlertmanagerState.SILENCED, AlertmanagerState.INHIBITED)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A firing incident, as reconcile sees it."""

    id: int
    identity: str
    am_state: str | None
    am_absent_since: datetime | None
    last_seen: datetime
    """When the bridge last received a webhook about it."""


@dataclass(frozen=True, slots=True)
class Change:
    """New values of an incident's reconcile columns."""

    id: int
    am_state: str | None
    am_absent_since: datetime | None


@dataclass(frozen=True, slots=True)
class Plan:
    """What one poll does: the columns it changes, the incidents it resolves (by id)."""

    changes: list[Change] = field(default_factory=list)
    resolve: list[int] = field(default_factory=list)


def merge(answers: Iterable[Seen | None]) -> dict[str, AlertmanagerState] | None:
    """Every alert the peers that answered have (None: a peer that did not answer), by
    fingerprint; None when no peer answered. Peers of one cluster share their silences, so
    they rarely disagree; when they do, ``active`` (some peer would notify) wins over
    ``silenced``, which wins over ``inhibited``."""
    merged: dict[str, AlertmanagerState] | None = None
    for answer in answers:
        if answer is None:
            continue
        merged = {} if merged is None else merged
        for fingerprint, state in answer.items():
            known = merged.get(fingerprint)
            if known is None or _PRECEDENCE.index(state) < _PRECEDENCE.index(known):
                merged[fingerprint] = state
    return merged


def decide(
    incidents: Sequence[Tracked], seen: Seen | None, now: datetime, confirm_after: timedelta
) -> Plan:
    """What a poll at ``now`` does to the firing ``incidents``, given what the peers that
    answered have (``seen``; None: no peer answered, so nothing changes)."""
    plan = Plan()
    if seen is None:
        return plan
    for incident in incidents:
        state = seen.get(incident.identity)
        if state is not None:
            if (incident.am_state, incident.am_absent_since) != (state.value, None):
                plan.changes.append(Change(incident.id, state.value, None))
            continue
        since = incident.am_absent_since
        if since is None or incident.last_seen > since:  # first absent poll, or alive since
            plan.changes.append(Change(incident.id, incident.am_state, now))
        elif now - since >= confirm_after:
            plan.resolve.append(incident.id)
    return plan
