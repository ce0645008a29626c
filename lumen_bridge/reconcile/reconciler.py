"""The reconciler: every interval, ask the Alertmanager peers which alerts they hold and
resolve, through the pipeline, the firing incidents none of them has any more.

A poll (:meth:`Reconciler.poll_once`, which tests call with their clock) asks every peer
at once, then, in one write transaction: locks the firing incidents, records what
Alertmanager says of each (``am_state``, ``am_absent_since``) and runs the resolves that
:func:`~lumen_bridge.reconcile.decision.decide` calls for through the pipeline
(:mod:`lumen_bridge.reconcile.resolve`). :func:`reconciling` runs the polling task for the
app's lifetime. docs/reconcile.md says why and how.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Connection

from lumen_bridge.clock import Clock
from lumen_bridge.config import Settings
from lumen_bridge.config.settings import AlertmanagersConfig
from lumen_bridge.reconcile import tracking
from lumen_bridge.reconcile.decision import Seen, decide, merge
from lumen_bridge.reconcile.peers import Peer, PeerError
from lumen_bridge.reconcile.resolve import ReconcilePipeline, resolved_payloads
from lumen_bridge.store.runner import Runner

__all__ = ["Poll", "Reconciler", "reconciling"]

log = structlog.get_logger("lumen_bridge.reconcile")


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll found and did."""

    answered: int
    """Peers that answered."""
    resolved: int
    """Incidents it resolved."""
    queued: int
    """Notifications it queued (the resolves)."""


class Reconciler:
    """Resolves the incidents Alertmanager no longer has (open it with ``async with``)."""

    def __init__(
        self,
        config: AlertmanagersConfig,
        pipeline: ReconcilePipeline,
        clock: Clock,
        *,
        on_queued: Callable[[], None] | None = None,
        on_reconciled: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self.clock = clock
        self.on_queued = on_queued
        """Called when a poll queued notifications (to wake the delivery worker)."""
        self.on_reconciled = on_reconciled
        """Called with how many incidents a poll resolved, when it resolved some."""
        self.peers = [Peer(url, config) for url in config.urls]
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Reconciler:
        for peer in self.peers:
            await self._stack.enter_async_context(peer)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def poll_once(self, now: datetime) -> Poll:
        """Ask every peer, then record and resolve what their answers call for at ``now``."""
        answers = await asyncio.gather(*(self._ask(peer) for peer in self.peers))
        seen = merge(answers)
        answered = sum(answer is not None for answer in answers)
        if seen is None:
            log.warning("no Alertmanager peer answered; nothing reconciled", peers=len(answers))
            return Poll(answered, 0, 0)
        poll = await self.pipeline.runner.write(
            lambda connection: self._reconcile(connection, seen, answered, now)
        )
        if poll.queued and self.on_queued is not None:
            self.on_queued()
        if poll.resolved and self.on_reconciled is not None:
            self.on_reconciled(poll.resolved)
        return poll

    async def _ask(self, peer: Peer) -> Seen | None:
        try:
            return await peer.alerts()
        except PeerError as exc:
            log.warning("Alertmanager peer did not answer", peer=peer.name, error=str(exc))
            return None

    def _reconcile(self, connection: Connection, seen: Seen, answered: int, now: datetime) -> Poll:
        firing = tracking.firing(connection)
        plan = decide([t for t, _ in firing], seen, now, self.config.interval / 2)
        tracking.record(connection, plan.changes)
        if not plan.resolve:
            return Poll(answered, 0, 0)
        chosen = set(plan.resolve)
        payloads = resolved_payloads([i for t, i in firing if t.id in chosen], now)
        summaries = self.pipeline.process(connection, [(p, now) for p in payloads])
        resolved = tracking.resolved_count(connection, chosen)
        queued = sum(s.outcomes["queued"] for s in summaries)
        log.info("reconciled", resolved=resolved, incidents=sorted(chosen), queued=queued)
        return Poll(answered, resolved, queued)

    async def run(self) -> None:
        """Poll every interval until cancelled; a failed poll is logged and tried again."""
        while True:
            try:
                await self.poll_once(self.clock())
            except Exception:  # the database may be away for a while; keep polling
                log.warning("reconcile failed; trying again at the next poll", exc_info=True)
            await asyncio.sleep(self.config.interval.total_seconds())


@contextlib.asynccontextmanager
async def reconciling(
    settings: Settings,
    runner: Runner,
    clock: Clock,
    *,
    on_queued: Callable[[], None] | None = None,
    on_reconciled: Callable[[int], None] | None = None,
) -> AsyncIterator[Reconciler]:
    """Run a reconciler's polls for the block's duration (reconcile on: some peer URL)."""
    pipeline = ReconcilePipeline(settings, runner)
    reconciler = Reconciler(
        settings.alertmanagers,
        pipeline,
        clock,
        on_queued=on_queued,
        on_reconciled=on_reconciled,
    )
    async with reconciler:
        task = asyncio.create_task(reconciler.run(), name="reconciler")
        try:
            yield reconciler
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
