"""The delivery worker: claims outbox rows, sends them, records each attempt.

Every notification is an outbox row written with its dedup decision. The worker
wakes at once when told rows were enqueued (:meth:`OutboxWorker.wake`), otherwise
when the next row falls due, and at least every ``SWEEP_INTERVAL`` as a safety net
(rows enqueued by another replica). It delivers up to ``CONCURRENCY`` rows at once,
carrying about ``ALERTS_IN_FLIGHT`` alerts at most (a storm's pages list a thousand
alerts each: loading sixteen of them at once would cost memory for nothing), and
never holds a database connection while a notifier talks to the network.

Webhooks go first: while they arrive faster than one commit at a time takes them (ingest
says it is saturated: :class:`IngestPressure`), the worker claims at most
``INGEST_FIRST_CLAIM`` rows every ``INGEST_FIRST`` seconds, so that answering Alertmanager
in time is not starved by delivering; the outbox keeps everything meanwhile and drains at
full speed afterwards.

What follows an attempt (delivered, a retry after a backoff, or dead) is the retry
policy's to say (:mod:`lumen_bridge.delivery.policy`). A crashed worker's rows are
reclaimed when their lease ends; :meth:`OutboxWorker.stop` lets deliveries finish for a
grace period, then gives the rest back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge.clock import Clock
from lumen_bridge.config import OutboxConfig
from lumen_bridge.delivery.policy import RetryPolicy
from lumen_bridge.domain.notification import Delivery
from lumen_bridge.group_commit import GroupCommit
from lumen_bridge.metrics import Metrics
from lumen_bridge.notifiers import Notifier, Result, Verdict
from lumen_bridge.store import attempts, outbox
from lumen_bridge.store.attempts import AttemptOutcome
from lumen_bridge.store.models import OutboxStatus
from lumen_bridge.store.runner import Runner

__all__ = ["IngestPressure", "OutboxWorker"]

CONCURRENCY = 16
CLAIM_BATCH = 4  # once every slot was taken, claim again when this many are free
ALERTS_IN_FLIGHT = 2000  # claims stop there (a single larger row is still taken alone)
INGEST_FIRST = 0.5  # while webhooks pile up for their commits, claim at most this often (s)
INGEST_FIRST_CLAIM = 4  # ... and at most this many rows
SWEEP_INTERVAL = 5.0  # seconds between safety-net sweeps
MIN_WAIT = 0.02  # never spin: rows due but locked by another replica are retried after this
ERROR_WAIT = 1.0  # after the database failed
SHUTDOWN_GRACE = 5.0  # seconds stop() lets deliveries finish
RECORD_RETRY = (0.1, 2.0)  # first and longest pause (s) between tries to record an attempt
LOGGED_IDS = 20  # a storm's page carries a thousand incidents: its log line names the first

log = structlog.get_logger("lumen_bridge.delivery")


class IngestPressure(Protocol):
    """How busy ingest is (:class:`lumen_bridge.ingest.Ingest` is one)."""

    def saturated(self, within: float) -> bool:
        """Whether webhooks piled up for their commits in the last ``within`` seconds."""


class OutboxWorker:
    """Delivers the outbox with the notifier of each row's receiver."""

    def __init__(
        self,
        runner: Runner,
        notifiers: Mapping[str, Notifier],
        config: OutboxConfig,
        metrics: Metrics,
        clock: Clock,
        *,
        jitter: Callable[[], float] = random.random,
        pressure: IngestPressure | None = None,
    ) -> None:
        self.runner = runner
        self.notifiers = notifiers
        self.config = config
        self.policy = RetryPolicy(config, jitter)
        self.metrics = metrics
        self.clock = clock
        self.pressure = pressure
        self._last_claim = -INGEST_FIRST
        self._wake = asyncio.Event()
        self._stopping = False
        self._runner: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], Delivery] = {}
        self._saturated = False  # every slot was taken: finishing deliveries must wake the loop
        # Results of deliveries that end together are recorded in one transaction.
        self._results: GroupCommit[tuple[Delivery, AttemptOutcome], bool] = GroupCommit(
            "delivery-results", self._record_many
        )

    def wake(self) -> None:
        """New rows were committed: look now."""
        self._wake.set()

    def start(self) -> None:
        """Start the claim loop in the background."""
        self._results.start()
        self._runner = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop claiming; let deliveries finish for ``grace`` seconds, then release the rest."""
        self._stopping = True
        self._wake.set()
        if self._runner is not None:
            await self._runner
        if self._inflight:
            _, unfinished = await asyncio.wait(list(self._inflight), timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            interrupted = [self._inflight.pop(t) for t in unfinished if t.cancelled()]
            if interrupted:  # a result committed meanwhile is no longer ours to release
                await self._release(interrupted)
        await self._results.stop()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                wait = await self._claim_and_spawn()
            except (SQLAlchemyError, OSError) as exc:  # the database is away: one line a try
                log.warning("outbox claim failed; retrying", error=type(exc).__name__)
                wait = ERROR_WAIT
            except Exception:  # the loop must outlive any failure, or delivery stops for good
                log.exception("outbox claim failed")
                wait = ERROR_WAIT
            if wait > 0:
                with contextlib.suppress(TimeoutError):  # asyncio.timeout: a cancel is never lost
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _claim_and_spawn(self) -> float:
        """Claim what fits, start delivering it; return how long to wait before looking again."""
        free = CONCURRENCY - len(self._inflight)
        room = ALERTS_IN_FLIGHT - sum(len(d.alerts) for d in self._inflight.values())
        self._saturated = free <= 0 or room <= 0
        if self._saturated:
            return SWEEP_INTERVAL  # a finishing delivery wakes the loop
        if self.pressure is not None and self.pressure.saturated(INGEST_FIRST):
            # webhooks pile up for their commits: they go first
            since = time.monotonic() - self._last_claim
            if since < INGEST_FIRST:
                return INGEST_FIRST - since
            free = min(free, INGEST_FIRST_CLAIM)
        self._last_claim = time.monotonic()
        now = self.clock()
        lease_until = now + self.config.lease
        claimed = await self.runner.write(
            lambda connection: outbox.claim(connection, now, lease_until, free, room)
        )
        for delivery in claimed:  # only once the claim is committed
            task = asyncio.create_task(self._deliver(delivery), name=f"deliver-{delivery.id}")
            self._inflight[task] = delivery
            task.add_done_callback(self._done)
        if len(claimed) == free:
            return 0.0  # there may be more
        next_due = await self.runner.read(outbox.next_due)
        if next_due is None:
            return SWEEP_INTERVAL
        until = (next_due - self.clock()).total_seconds()
        return min(max(until, MIN_WAIT), SWEEP_INTERVAL)

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._stopping and task.cancelled():
            return  # stop() releases its row
        self._inflight.pop(task, None)
        # One claim for several free slots: a claim is a transaction, and with a backlog
        # claiming each slot as it came free cost more than the delivery itself.
        if (
            self._saturated
            and not self._stopping
            and len(self._inflight) <= CONCURRENCY - CLAIM_BATCH
        ):
            self._wake.set()

    async def _deliver(self, delivery: Delivery) -> None:
        attempted_at = self.clock()
        started = time.perf_counter()
        notifier = self.notifiers.get(delivery.receiver)
        if notifier is None:
            error = f"no receiver {delivery.receiver!r} with a destination is configured"
            result = Result(Verdict.PERMANENT, error=error)
        else:
            try:
                result = await notifier.send(delivery)
            except Exception as exc:  # a notifier bug must not lose the row: retry it
                log.exception("notifier failed", receiver=delivery.receiver)
                result = Result(Verdict.RETRY, error=f"{type(exc).__name__}: {exc}")
        duration_ms = (time.perf_counter() - started) * 1000
        outcome = self._outcome(delivery, result, attempted_at, duration_ms)
        kept = await self._record(delivery, outcome, started)
        if kept is None:
            return
        if outcome.status is OutboxStatus.PENDING:
            self._wake.set()  # the loop must learn when this retry falls due
        self.metrics.notifications.labels(delivery.receiver, outcome.result).inc()
        latency = max((self.clock() - delivery.created_at).total_seconds(), 0.0)
        if outcome.status is OutboxStatus.DELIVERED:
            self.metrics.notification_latency.observe(latency)
        fields = {
            "outbox_id": delivery.id,
            "receiver": delivery.receiver,
            "incident_ids": [alert["incident_id"] for alert in delivery.alerts[:LOGGED_IDS]],
            "alerts": len(delivery.alerts),
            "action": delivery.action,
            "attempt": delivery.attempt,
            "result": outcome.result,
            "status_code": result.status_code,
            "duration_ms": round(duration_ms, 1),
            "latency_s": round(latency, 3),
        }
        if not kept:
            log.warning("delivery lease lost to another worker", **fields)
        elif outcome.result == "dead":
            log.error("notification dead", error=result.error, **fields)
        elif outcome.result == "retry":
            log.warning(
                "delivery failed, will retry",
                error=result.error,
                retry_at=outcome.next_attempt_at.isoformat(),
                **fields,
            )
        else:
            log.info("delivered", **fields)

    async def _record(
        self, delivery: Delivery, outcome: AttemptOutcome, started: float
    ) -> bool | None:
        """Record the attempt; whether the lease was still held. While the database is away,
        try again for as long as half the lease lasts: a delivery already made is then not
        made again. None when it could not be recorded (the row is sent again, with the same
        Idempotency-Key, once its lease ends)."""
        deadline = started + self.config.lease.total_seconds() / 2
        pause = RECORD_RETRY[0]
        while True:
            try:
                return await self._results.submit((delivery, outcome))
            except (SQLAlchemyError, OSError) as exc:
                if time.perf_counter() + pause > deadline:
                    log.warning(
                        "cannot record delivery; it is sent again when its lease ends",
                        outbox_id=delivery.id,
                        error=type(exc).__name__,
                    )
                    return None
            await asyncio.sleep(pause)
            pause = min(2 * pause, RECORD_RETRY[1])

    async def _record_many(self, results: Sequence[tuple[Delivery, AttemptOutcome]]) -> list[bool]:
        """Record attempts and new row states; for each, whether the lease was still held."""
        return await self.runner.write(lambda connection: attempts.finish(connection, results))

    def _outcome(
        self, delivery: Delivery, result: Result, attempted_at: datetime, duration_ms: float
    ) -> AttemptOutcome:
        then = self.policy.next(result, delivery.attempt, self.clock())
        return AttemptOutcome(
            attempted_at=attempted_at,
            result=then.result,
            status=then.status,
            next_attempt_at=then.at,
            status_code=result.status_code,
            error=result.error,
            duration_ms=duration_ms,
        )

    async def _release(self, deliveries: list[Delivery]) -> None:
        try:
            now = self.clock()
            await self.runner.write(
                lambda connection: attempts.release(connection, deliveries, now)
            )
        except (SQLAlchemyError, OSError) as exc:  # their leases will expire instead
            log.warning("cannot release deliveries", error=type(exc).__name__)
