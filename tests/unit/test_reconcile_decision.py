"""The reconcile decision (docs/reconcile.md): what the peers' answers mean, and when a
firing incident is resolved. Pure functions, tested with tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lumen_bridge.reconcile import Change, PeerError, Tracked, decide, merge, parse_alerts
from lumen_bridge.store.models import AlertmanagerState

ACTIVE, SILENCED, INHIBITED = (
    AlertmanagerState.ACTIVE,
    AlertmanagerState.SILENCED,
    AlertmanagerState.INHIBITED,
)
T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
GAP = timedelta(seconds=30)
EARLIER = T0 - timedelta(hours=1)  # the last webhook, before any poll


def tracked(
    *, state: str | None = None, absent_since: datetime | None = None, last_seen: datetime = EARLIER
) -> Tracked:
    return Tracked(1, "fp", state, absent_since, last_seen)


@pytest.mark.parametrize(
    ("answers", "merged"),
    [
        ([], None),
        ([None, None], None),  # nobody answered: nothing is absent
        ([None, {}], {}),  # one answered, empty: everything is absent
        ([{"a": ACTIVE}, None], {"a": ACTIVE}),
        ([{}, {"a": ACTIVE}], {"a": ACTIVE}),  # one of two peers still has it
        ([{"a": SILENCED}, {"a": ACTIVE}], {"a": ACTIVE}),
        ([{"a": INHIBITED}, {"a": SILENCED}], {"a": SILENCED}),
        ([{"a": SILENCED}, {"a": INHIBITED}], {"a": SILENCED}),
    ],
)
def test_merge(answers: list[dict[str, AlertmanagerState] | None], merged: object) -> None:
    assert merge(answers) == merged


def test_no_answer_changes_nothing() -> None:
    plan = decide([tracked(absent_since=T0 - GAP)], None, T0, GAP)
    assert (plan.changes, plan.resolve) == ([], [])


@pytest.mark.parametrize(
    ("incident", "seen", "changes", "resolve"),
    [
        # present: its state recorded, an absence forgotten
        (tracked(), {"fp": ACTIVE}, [Change(1, "active", None)], []),
        (tracked(state="active"), {"fp": ACTIVE}, [], []),
        (tracked(state="active"), {"fp": SILENCED}, [Change(1, "silenced", None)], []),
        (
            tracked(state="silenced", absent_since=T0 - GAP),
            {"fp": INHIBITED},
            [Change(1, "inhibited", None)],
            [],
        ),
        # absent: first poll marks it (its last state kept), the second resolves it
        (tracked(state="silenced"), {}, [Change(1, "silenced", T0)], []),
        (tracked(state="silenced", absent_since=T0 - GAP), {"other": ACTIVE}, [], [1]),
        # the second poll came too soon (another replica's): wait for a later one
        (tracked(absent_since=T0 - GAP + timedelta(seconds=1)), {}, [], []),
        # a firing webhook since the first absent poll: start over
        (
            tracked(absent_since=T0 - GAP, last_seen=T0 - timedelta(seconds=5)),
            {},
            [Change(1, None, T0)],
            [],
        ),
    ],
)
def test_decide(
    incident: Tracked,
    seen: dict[str, AlertmanagerState],
    changes: list[Change],
    resolve: list[int],
) -> None:
    plan = decide([incident], seen, T0, GAP)
    assert (plan.changes, plan.resolve) == (changes, resolve)


def test_flapping_never_resolves() -> None:
    incident, now = tracked(), T0
    for seen in ({}, {"fp": ACTIVE}) * 3:
        plan = decide([incident], seen, now, GAP)
        assert plan.resolve == []
        for change in plan.changes:
            incident = Tracked(1, "fp", change.am_state, change.am_absent_since, incident.last_seen)
        now += GAP
    assert incident.am_absent_since is None


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ({"state": "active", "silencedBy": [], "inhibitedBy": []}, ACTIVE),
        ({"state": "unprocessed", "silencedBy": [], "inhibitedBy": []}, ACTIVE),
        ({"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}, SILENCED),
        ({"state": "suppressed", "silencedBy": [], "inhibitedBy": ["f2"]}, INHIBITED),
        ({"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": ["f2"]}, SILENCED),
        ({"state": "suppressed"}, SILENCED),  # muted for another reason (a time interval)
    ],
)
def test_parse_alerts_reads_the_state(status: dict[str, object], state: AlertmanagerState) -> None:
    body = [{"fingerprint": "fp", "labels": {"alertname": "A"}, "status": status}]
    assert parse_alerts(json.dumps(body).encode()) == {"fp": state}


@pytest.mark.parametrize(
    "body", [b"not json", b'{"alerts": []}', b'[{"labels": {}}]', b'[{"fingerprint": "x"}]']
)
def test_an_answer_that_is_not_alerts_is_no_answer(body: bytes) -> None:
    with pytest.raises(PeerError, match="not a list of Alertmanager alerts"):
        parse_alerts(body)
