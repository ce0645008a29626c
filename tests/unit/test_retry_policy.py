"""The retry policy: exponential backoff with equal jitter, capped; Retry-After as a floor;
what becomes of a row after each attempt (the worker around it: tests/test_outbox_worker.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumen_bridge.config import OutboxConfig
from lumen_bridge.delivery.policy import MAX_RETRY_AFTER, Next, RetryPolicy
from lumen_bridge.notifiers import Result, Verdict
from lumen_bridge.store.models import OutboxStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PROPERTY = settings(max_examples=200, deadline=None)


def policy(config: OutboxConfig, jitter: float) -> RetryPolicy:
    """The policy with a fixed jitter."""
    return RetryPolicy(config, jitter=lambda: jitter)


@pytest.mark.parametrize("jitter", [0.0, 0.5, 1.0])
def test_backoff_is_exponential_with_jitter_and_capped(jitter: float) -> None:
    p = policy(OutboxConfig(), jitter)
    first = p.backoff(1, None)
    assert 0.25 <= first <= 0.5  # the first retry within about a second
    assert p.backoff(2, None) == pytest.approx(first * 2)
    assert p.backoff(30, None) == pytest.approx(300 * (0.5 + jitter / 2))
    assert all(p.backoff(n, None) <= 300 for n in range(1, 60))


def test_backoff_is_configurable_and_retry_after_is_a_floor() -> None:
    config = OutboxConfig(initial_backoff=timedelta(seconds=2), max_backoff=timedelta(seconds=10))
    p = policy(config, 1.0)
    assert [p.backoff(n, None) for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert p.backoff(1, 7) == 7
    assert p.backoff(4, 3) == 10
    assert p.backoff(1, 10**9) == 3600  # an absurd Retry-After is capped


SMALL = OutboxConfig(
    initial_backoff=timedelta(seconds=2), max_backoff=timedelta(seconds=10), max_attempts=3
)


def later(seconds: float) -> datetime:
    """``seconds`` after NOW."""
    return NOW + timedelta(seconds=seconds)


# case, result, attempt, what follows (jitter 1.0, SMALL: 2s, 4s, 8s, 10s...; 3 attempts)
NEXT: list[tuple[str, Result, int, Next]] = [
    ("delivered", Result.delivered(200), 1, Next(OutboxStatus.DELIVERED, "delivered", NOW)),
    ("delivered at the last attempt", Result.delivered(), 3,
     Next(OutboxStatus.DELIVERED, "delivered", NOW)),
    ("first retry", Result(Verdict.RETRY, 503), 1, Next(OutboxStatus.PENDING, "retry", later(2))),
    ("second retry", Result(Verdict.RETRY, 503), 2, Next(OutboxStatus.PENDING, "retry", later(4))),
    ("retry at max_attempts", Result(Verdict.RETRY, 503), 3, Next(OutboxStatus.DEAD, "dead", NOW)),
    ("retry past max_attempts", Result(Verdict.RETRY), 4, Next(OutboxStatus.DEAD, "dead", NOW)),
    ("permanent", Result(Verdict.PERMANENT, 400), 1, Next(OutboxStatus.DEAD, "dead", NOW)),
    ("permanent with Retry-After", Result(Verdict.PERMANENT, 400, retry_after=30), 1,
     Next(OutboxStatus.DEAD, "dead", NOW)),
    ("Retry-After above the backoff", Result(Verdict.RETRY, 429, retry_after=30), 1,
     Next(OutboxStatus.PENDING, "retry", later(30))),
    ("Retry-After below the backoff", Result(Verdict.RETRY, 429, retry_after=1), 2,
     Next(OutboxStatus.PENDING, "retry", later(4))),
    ("absurd Retry-After", Result(Verdict.RETRY, 429, retry_after=1e9), 1,
     Next(OutboxStatus.PENDING, "retry", later(MAX_RETRY_AFTER))),
]  # fmt: skip


def test_the_next_table_covers_every_verdict_and_status() -> None:
    assert NEXT
    assert {row[1].verdict for row in NEXT} == set(Verdict)
    assert {row[3].status for row in NEXT} == {
        OutboxStatus.DELIVERED,
        OutboxStatus.PENDING,
        OutboxStatus.DEAD,
    }


@pytest.mark.parametrize(
    ("result", "attempt", "expected"), [pytest.param(*row[1:], id=row[0]) for row in NEXT]
)
def test_what_follows_an_attempt(result: Result, attempt: int, expected: Next) -> None:
    assert policy(SMALL, 1.0).next(result, attempt, NOW) == expected


def test_a_single_attempt_retries_nothing() -> None:
    p = policy(OutboxConfig(max_attempts=1), 0.5)
    assert p.next(Result(Verdict.RETRY), 1, NOW) == Next(OutboxStatus.DEAD, "dead", NOW)


# -- properties ----------------------------------------------------------------------------


@st.composite
def configs(draw: st.DrawFn) -> OutboxConfig:
    """A configured backoff: an initial delay up to a minute, a cap up to two hours."""
    initial = draw(st.floats(0.001, 60))
    cap = draw(st.floats(initial, 7200))
    return OutboxConfig(
        initial_backoff=timedelta(seconds=initial), max_backoff=timedelta(seconds=cap)
    )


jitters = st.floats(0.0, 1.0)
attempts = st.integers(1, 10**6)  # outbox.max_attempts has no upper bound
retry_afters = st.none() | st.floats(0.0, 1e9)


@PROPERTY
@given(configs(), jitters, attempts, retry_afters)
def test_backoff_stays_under_the_cap_unless_retry_after_asks_for_more(
    config: OutboxConfig, jitter: float, attempt: int, retry_after: float | None
) -> None:
    delay = policy(config, jitter).backoff(attempt, retry_after)
    cap = config.max_backoff.total_seconds()
    assert delay > 0
    if retry_after is None:
        assert delay <= cap
    else:
        floor = min(retry_after, MAX_RETRY_AFTER)
        assert delay >= floor
        assert delay <= max(cap, floor)
        if delay > cap:
            assert delay <= MAX_RETRY_AFTER


@PROPERTY
@given(configs(), jitters, attempts)
def test_backoff_never_shrinks_with_the_attempt(
    config: OutboxConfig, jitter: float, attempt: int
) -> None:
    p = policy(config, jitter)
    assert p.backoff(attempt, None) <= p.backoff(attempt + 1, None)


@PROPERTY
@given(configs(), attempts, retry_afters)
def test_no_jitter_is_half_of_full_jitter(
    config: OutboxConfig, attempt: int, retry_after: float | None
) -> None:
    low = policy(config, 0.0).backoff(attempt, None)
    high = policy(config, 1.0).backoff(attempt, None)
    assert low == pytest.approx(high / 2)
    if retry_after is not None:  # a floor lifts both alike
        floor = min(retry_after, MAX_RETRY_AFTER)
        assert policy(config, 0.0).backoff(attempt, retry_after) == max(low, floor)


@PROPERTY
@given(configs(), jitters, st.integers(1, 30), st.integers(1, 30), retry_afters)
def test_a_retry_is_pending_until_max_attempts_then_dead(
    config: OutboxConfig, jitter: float, attempt: int, max_attempts: int, retry_after: float | None
) -> None:
    config = config.model_copy(update={"max_attempts": max_attempts})
    p = policy(config, jitter)
    then = p.next(Result(Verdict.RETRY, retry_after=retry_after), attempt, NOW)
    if attempt < max_attempts:
        assert then.status is OutboxStatus.PENDING and then.result == "retry"
        assert then.at == NOW + timedelta(seconds=p.backoff(attempt, retry_after))
    else:
        assert then == Next(OutboxStatus.DEAD, "dead", NOW)
