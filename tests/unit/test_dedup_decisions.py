"""The dedup decision table (docs/contract.md §5) as :func:`decide` sees it, row by row,
and the properties every decision keeps (the table end-to-end: tests/test_dedup_table.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen_bridge.domain.alertmanager import Alert
from lumen_bridge.domain.dedup import Action, Decision, Reason, decide

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
REOPEN = timedelta(minutes=10)
Status = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class State:
    """An incident as ``decide`` sees it (the IncidentState protocol)."""

    status: str = "firing"
    starts_at: datetime = T0
    resolved_at: datetime | None = None
    last_notified_at: datetime | None = None
    notified: bool = False
    notify_seq: int = 0
    acked_at: datetime | None = None


def at(minutes: float) -> datetime:
    """``minutes`` after T0."""
    return T0 + timedelta(minutes=minutes)


def alert(status: Status, starts_at: datetime = T0) -> Alert:
    """One alert as Alertmanager sends it."""
    return Alert.model_validate(
        {
            "status": status,
            "labels": {"alertname": "LumenStageFailed", "severity": "page"},
            "startsAt": starts_at.isoformat(),
            "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else at(30).isoformat(),
            "fingerprint": "fp-1",
        }
    )


NOTIFIED = State(notified=True, last_notified_at=T0, notify_seq=1)
RESOLVED = State(status="resolved", resolved_at=at(20), notified=True, notify_seq=2)

# case, incident, alert, now, expected reason, action, new_incident, new_episode
Row = tuple[str, State | None, Alert, datetime, Reason, Action | None, bool, bool]
TABLE: list[Row] = [
    ("1 first firing", None, alert("firing"), T0, Reason.OPEN, Action.OPEN, True, False),
    ("2 repeat within window", NOTIFIED, alert("firing"), at(9.9),
     Reason.REPEAT, None, False, False),
    ("2 newer startsAt within window", NOTIFIED, alert("firing", at(5)), at(6),
     Reason.REPEAT, None, False, False),
    ("3 after the window", NOTIFIED, alert("firing"), at(10.1),
     Reason.REMIND, Action.UPDATE, False, False),
    ("3 exactly at the window", NOTIFIED, alert("firing"), at(10),
     Reason.REMIND, Action.UPDATE, False, False),
    ("3 after the window, acknowledged", dataclasses.replace(NOTIFIED, acked_at=at(1)),
     alert("firing"), at(10.1), Reason.ACKED, None, False, False),
    ("3 after the window, acked before an earlier resolve",
     dataclasses.replace(NOTIFIED, acked_at=at(1), resolved_at=at(2)), alert("firing"), at(10.1),
     Reason.REMIND, Action.UPDATE, False, False),
    ("untold firing, first episode", State(), alert("firing"), at(1),
     Reason.UNTOLD, Action.OPEN, False, False),
    ("untold firing, reopened episode", State(notify_seq=2), alert("firing"), at(1),
     Reason.UNTOLD, Action.REOPEN, False, False),
    ("stale firing on firing", NOTIFIED, alert("firing", at(-5)), at(1),
     Reason.STALE, None, False, False),
    ("4 first resolved", NOTIFIED, alert("resolved"), at(20),
     Reason.RESOLVE, Action.RESOLVE, False, False),
    ("resolve of an untold incident", State(), alert("resolved"), at(20),
     Reason.RESOLVE_UNTOLD, None, False, False),
    ("resolve of an unknown incident", None, alert("resolved"), at(20),
     Reason.RESOLVE_UNTOLD, None, True, False),
    ("stale resolved on firing", NOTIFIED, alert("resolved", at(-5)), at(20),
     Reason.STALE, None, False, False),
    ("5 resolved again", RESOLVED, alert("resolved"), at(21),
     Reason.RESOLVE_REPEAT, None, False, False),
    ("resolved of another episode on resolved", RESOLVED, alert("resolved", at(-5)), at(21),
     Reason.STALE, None, False, False),
    ("6 firing, same startsAt, after resolve", RESOLVED, alert("firing"), at(21),
     Reason.STALE, None, False, False),
    ("6 firing, older startsAt, after resolve", RESOLVED, alert("firing", at(-1)), at(21),
     Reason.STALE, None, False, False),
    ("7 new startsAt within reopen window", RESOLVED, alert("firing", at(25)), at(25),
     Reason.REOPEN, Action.REOPEN, False, True),
    ("7 reopen of an incident nobody was told of",
     State(status="resolved", resolved_at=at(20)), alert("firing", at(25)), at(25),
     Reason.REOPEN, Action.OPEN, False, True),
    ("7 reopen window from startsAt without resolved_at",
     dataclasses.replace(RESOLVED, resolved_at=None), alert("firing", at(5)), at(9),
     Reason.REOPEN, Action.REOPEN, False, True),
    ("8 new startsAt after reopen window", RESOLVED, alert("firing", at(31)), at(31),
     Reason.OPEN, Action.OPEN, True, False),
    ("8 exactly at the reopen window", RESOLVED, alert("firing", at(30)), at(30),
     Reason.OPEN, Action.OPEN, True, False),
]  # fmt: skip


def test_the_table_covers_every_reason() -> None:
    assert TABLE
    assert {row[4] for row in TABLE} == set(Reason)
    # escalate is the escalation loop's (lumen_bridge/lifecycle/escalation.py), not the table's
    assert {row[5] for row in TABLE} == {*Action, None} - {Action.ESCALATE}


@pytest.mark.parametrize(
    ("incident", "alert_", "now", "reason", "action", "new_incident", "new_episode"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_decision_table(
    incident: State | None,
    alert_: Alert,
    now: datetime,
    reason: Reason,
    action: Action | None,
    new_incident: bool,
    new_episode: bool,
) -> None:
    decision = decide(incident, alert_, now, WINDOW, REOPEN)
    assert decision == Decision(reason, action, new_incident, new_episode)
    assert decision.deduplicated is (reason in (Reason.REPEAT, Reason.RESOLVE_REPEAT, Reason.ACKED))


# -- properties ----------------------------------------------------------------------------


def moment(low: int = -7200, high: int = 7200) -> st.SearchStrategy[datetime]:
    """A moment around T0, to the second."""
    return st.integers(low, high).map(lambda s: T0 + timedelta(seconds=s))


states = st.builds(
    State,
    status=st.sampled_from(["firing", "resolved"]),
    starts_at=moment(),
    resolved_at=st.none() | moment(),
    last_notified_at=st.none() | moment(),
    notified=st.booleans(),
    notify_seq=st.integers(0, 5),
)
incidents = st.none() | states
windows = st.integers(1, 3600).map(lambda s: timedelta(seconds=s))
statuses: st.SearchStrategy[Status] = st.sampled_from(["firing", "resolved"])
alerts = st.builds(alert, statuses, moment())
PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(incidents, st.builds(alert, st.just("firing"), moment()), moment(), windows, windows)
def test_a_firing_alert_never_resolves(
    incident: State | None, a: Alert, now: datetime, window: timedelta, reopen: timedelta
) -> None:
    assert decide(incident, a, now, window, reopen).action is not Action.RESOLVE


@PROPERTY
@given(incidents, st.builds(alert, st.just("resolved"), moment()), moment(), windows, windows)
def test_a_resolved_alert_only_resolves(
    incident: State | None, a: Alert, now: datetime, window: timedelta, reopen: timedelta
) -> None:
    decision = decide(incident, a, now, window, reopen)
    assert decision.action in (Action.RESOLVE, None)
    assert not decision.new_episode


@PROPERTY
@given(states, alerts, st.integers(1, 7200), moment(), windows, windows)
def test_an_older_copy_of_a_firing_incident_is_stale(
    state: State, a: Alert, older_by: int, now: datetime, window: timedelta, reopen: timedelta
) -> None:
    incident = dataclasses.replace(
        state, status="firing", starts_at=a.starts_at + timedelta(seconds=older_by)
    )
    assert decide(incident, a, now, window, reopen) == Decision(Reason.STALE)


@PROPERTY
@given(incidents, alerts, moment(), windows, windows)
def test_a_new_incident_is_no_new_episode(
    incident: State | None, a: Alert, now: datetime, window: timedelta, reopen: timedelta
) -> None:
    decision = decide(incident, a, now, window, reopen)
    if decision.new_incident:
        assert not decision.new_episode
        assert decision.action in (Action.OPEN, None)
    if incident is None:
        assert decision.new_incident


@PROPERTY
@given(states, st.builds(alert, st.just("firing"), moment()), st.integers(0, 3599), windows)
def test_a_repeat_within_the_window_tells_nobody(
    state: State, a: Alert, since: int, reopen: timedelta
) -> None:
    last = T0
    incident = dataclasses.replace(state, status="firing", notified=True, last_notified_at=last)
    window = timedelta(seconds=since + 1)
    decision = decide(incident, a, last + timedelta(seconds=since), window, reopen)
    assert decision.action is None
    assert decision.reason in (Reason.REPEAT, Reason.STALE)


def apply(incident: State | None, a: Alert, decision: Decision, now: datetime) -> State:
    """The incident after ``decision``, as the dedup stage records it and the enqueue stage
    queues its notification (lumen_bridge.pipeline.dedup.record, enqueue.notify)."""
    if decision.new_incident or incident is None:
        incident = State(status=a.status, starts_at=a.starts_at)
    if decision.reason is Reason.STALE:
        return incident
    if decision.new_episode:
        incident = dataclasses.replace(incident, status="firing", resolved_at=None, notified=False)
    if a.status == "firing":
        incident = dataclasses.replace(incident, starts_at=max(incident.starts_at, a.starts_at))
    else:
        incident = dataclasses.replace(incident, status="resolved", resolved_at=now)
    if decision.action is not None:
        incident = dataclasses.replace(
            incident,
            notify_seq=incident.notify_seq + 1,
            last_notified_at=now,
            notified=incident.notified or decision.action is not Action.RESOLVE,
        )
    return incident


@PROPERTY
@given(incidents, alerts, moment(), windows, windows)
def test_twins_at_the_same_moment_notify_once(
    incident: State | None, a: Alert, now: datetime, window: timedelta, reopen: timedelta
) -> None:
    first = decide(incident, a, now, window, reopen)
    after = apply(incident, a, first, now)
    twin = decide(after, a, now, window, reopen)
    assert twin.action is None
    assert not twin.new_incident and not twin.new_episode
    told_before = 0 if incident is None or first.new_incident else incident.notify_seq
    assert after.notify_seq == told_before + (first.action is not None)


def test_apply_models_the_pipeline() -> None:
    """The model itself: a first firing is told, its resolve closes it."""
    opened = apply(None, alert("firing"), Decision(Reason.OPEN, Action.OPEN, True), T0)
    assert opened == State(last_notified_at=T0, notified=True, notify_seq=1)
    closed = apply(opened, alert("resolved"), Decision(Reason.RESOLVE, Action.RESOLVE), at(5))
    assert (closed.status, closed.resolved_at, closed.notify_seq) == ("resolved", at(5), 2)
