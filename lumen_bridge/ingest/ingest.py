"""Ingest: ``submit(webhook) -> answer``, the answer given once the webhook is committed.

Webhooks that arrive together are committed together (:mod:`lumen_bridge.group_commit`),
decided by the pipeline in the writer process (``database.writer: process``, the default:
:mod:`lumen_bridge.ingest.writer`) or in this one (``thread``: on the database runner's
thread). Whoever submits does not know which. What was accepted is counted in the metrics,
and the delivery worker is woken when notifications were queued. How the last batch ended
is kept in :attr:`Ingest.last_commit` (``/readyz`` reports a failure until a batch stores
alerts again: on a full disk other writers' small updates may still fit, webhooks not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lumen_bridge.config import Settings
from lumen_bridge.group_commit import GroupCommit
from lumen_bridge.ingest.writer import WriterProcess
from lumen_bridge.metrics import Metrics
from lumen_bridge.pipeline import Answer, Outcome, Pipeline, Summary, Webhook
from lumen_bridge.store.runner import DATABASE_ERRORS, LastOutcome, describe_error

__all__ = ["BATCH_BYTES", "Ingest", "Unavailable"]

BATCH_BYTES = 16 * 1024 * 1024
"""At most this much webhook body per group commit (a larger webhook is a batch alone)."""


class Unavailable(Exception):
    """The database cannot take the write now (Alertmanager should retry)."""


class Ingest:
    """Commits webhooks in groups; one answer per webhook, after its commit."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        metrics: Metrics,
        on_queued: Callable[[], None],
    ) -> None:
        self.pipeline = pipeline
        """The pipeline of this process (it decides the webhooks in ``thread`` mode)."""
        self.metrics = metrics
        self.on_queued = on_queued
        self.last_commit = LastOutcome()
        """How the last batch of webhooks ended (cleared only by a batch that stored alerts)."""
        self._writer = WriterProcess(settings) if settings.database.writer == "process" else None
        self._commits: GroupCommit[Webhook, Answer] = GroupCommit(
            "webhooks", self._run_many, size=lambda webhook: len(webhook.body), max_size=BATCH_BYTES
        )

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None in ``thread`` mode, or before it starts)."""
        return None if self._writer is None else self._writer.pid

    async def start(self) -> None:
        """Start the writer process (in ``process`` mode) and the group commit."""
        if self._writer is not None:
            await self._writer.start()
        self._commits.start()

    async def stop(self) -> None:
        """Answer every webhook submitted, then stop."""
        await self._commits.stop()
        if self._writer is not None:
            await self._writer.close()

    def saturated(self, within: float) -> bool:
        """Whether webhooks piled up for their commits in the last ``within`` seconds (the
        delivery worker then claims less, so that answering Alertmanager goes first)."""
        return self._commits.saturated(within)

    async def submit(self, webhook: Webhook) -> Answer:
        """Decide and commit ``webhook``; raise :class:`Unavailable` when the database cannot
        take it."""
        try:
            answer = await self._commits.submit(webhook)
        except DATABASE_ERRORS as exc:
            raise Unavailable(describe_error(exc)) from exc
        if isinstance(answer, Summary):
            self._accepted(answer)
        return answer

    async def _run_many(self, webhooks: Sequence[Webhook]) -> list[Answer]:
        try:
            if self._writer is None:
                answers = await self.pipeline.run_many(webhooks)
            else:
                answers = await self._writer.run_many(webhooks)
        except DATABASE_ERRORS as exc:
            self.last_commit.failed(exc)
            raise
        if any(isinstance(answer, Summary) and answer.alerts for answer in answers):
            self.last_commit.succeeded()  # alerts were stored: the database takes writes
            self.pipeline.runner.last_write.succeeded()
        return answers

    def _accepted(self, summary: Summary) -> None:
        """Count what ``summary`` says; wake the delivery worker if anything was queued."""
        if summary.outcomes[Outcome.QUEUED]:
            self.on_queued()
        metrics = self.metrics
        for status, count in summary.statuses.items():
            metrics.received[status].inc(count)
        if deduplicated := summary.outcomes[Outcome.DEDUPLICATED]:
            metrics.alerts_deduplicated.inc(deduplicated)
        for reason, count in summary.suppressed_by.items():
            metrics.suppressed_by[reason].inc(count)
