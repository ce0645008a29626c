"""The pruner: keeps the database bounded by deleting, in the background, what is older than
``retention.max_age`` (:mod:`lumen_bridge.store.retention` says what goes and in which order).

A pass runs every ``retention.interval``, the first at start. It deletes ``retention.batch``
rows at most per transaction, and after each batch waits as long as the batch took, so that
ingest and delivery have the database at least half of the time even while a large backlog
(the first pass over an old database) is pruned.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import structlog

from lumen_bridge.clock import Clock
from lumen_bridge.config import RetentionConfig
from lumen_bridge.metrics import Metrics
from lumen_bridge.store import retention
from lumen_bridge.store.retention import Pruned, Step
from lumen_bridge.store.runner import Runner, Work

__all__ = ["Pruner"]

log = structlog.get_logger("lumen_bridge.pruner")


def _batch(step: Step, cutoff: datetime, limit: int) -> Work[Pruned]:
    """One batch of ``step`` as work for the runner."""
    return lambda connection: step(connection, cutoff, limit)


class Pruner:
    """Deletes finished incidents, notifications and events once older than ``max_age``."""

    def __init__(
        self, runner: Runner, config: RetentionConfig, metrics: Metrics, clock: Clock
    ) -> None:
        self.runner = runner
        self.config = config
        self.metrics = metrics
        self.clock = clock
        for table in retention.TABLES:  # every series from the start, at 0
            metrics.pruned.labels(table)

    async def prune_once(self, now: datetime) -> Pruned:
        """Delete what is older than ``max_age`` at ``now``, one batch per transaction;
        return how many rows went, by table."""
        cutoff = now - self.config.max_age
        pruned = dict.fromkeys(retention.TABLES, 0)
        for step in retention.STEPS:
            work = _batch(step, cutoff, self.config.batch)
            while True:
                started = time.monotonic()
                deleted = await self.runner.write(work)
                if not any(deleted.values()):
                    break
                for table, count in deleted.items():
                    pruned[table] += count
                    self.metrics.pruned.labels(table).inc(count)
                await asyncio.sleep(time.monotonic() - started)  # the others' turn
        if any(pruned.values()):
            log.info("pruned", older_than=cutoff.isoformat(), **pruned)
        return pruned

    async def run(self) -> None:
        """Prune at start, then every ``interval``, until cancelled."""
        while True:
            try:
                await self.prune_once(self.clock())
            except Exception:  # the database may be away for a while; try at the next pass
                log.warning("pruning failed; trying again at the next interval", exc_info=True)
            await asyncio.sleep(self.config.interval.total_seconds())
