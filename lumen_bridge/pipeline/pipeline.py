"""The webhook pipeline: every stage, in order, over a batch of webhooks in one transaction.

    route -> lock -> for each case, in order: dedup -> suppress -> enqueue -> save

The route stage makes one case per alert and route; the lock stage reads what they are
decided on; each case then goes through the deciding stages until one closes it; the
save stage writes what was decided.

:meth:`Pipeline.work` is the transaction that decides the webhooks that ingest commits
together (:mod:`lumen_bridge.ingest`). Each body is parsed there, where it is decided (in
the writer process by default), not by the HTTP handler: one parse per webhook, off the
serving process. Every alert is stored (an ``alert_events`` row, and its incident updated)
and every notification decided is written to the outbox in the same transaction, so the
200 answer means all of it is durable. Conflicts between concurrent deliveries are settled
by the database (:mod:`lumen_bridge.store.incidents`); a transaction that lost a race on
PostgreSQL is run again from the start and then sees the winner's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from sqlalchemy import Connection

from lumen_bridge.config import Settings
from lumen_bridge.domain.alertmanager import Rejected, WebhookPayload, parse
from lumen_bridge.pipeline.batch import Answer, Batch, Case, Outcome, Received, Summary, Webhook
from lumen_bridge.pipeline.dedup import DedupStage
from lumen_bridge.pipeline.enqueue import EnqueueStage
from lumen_bridge.pipeline.lock import LockStage
from lumen_bridge.pipeline.route import Router, RouteStage
from lumen_bridge.pipeline.save import SaveStage
from lumen_bridge.pipeline.suppress import SuppressStage
from lumen_bridge.store.runner import Runner

__all__ = ["Pipeline", "Stage", "summaries"]


class Stage(Protocol):
    """A deciding stage: it decides what it owns for one case of the batch, and closes the
    case when nothing is left for the stages after it."""

    def __call__(self, batch: Batch, case: Case) -> None:
        """Decide ``case``."""


class Pipeline:
    """Decides and records what each alert of a batch of webhooks means."""

    def __init__(self, settings: Settings, runner: Runner) -> None:
        self.router = Router(settings)
        self.flag = settings.suppression.flag
        self.runner = runner
        self.route = RouteStage(self.router)  # which receivers each alert goes to
        self.lock = LockStage(self.flag)  # the cases' incidents, locked; the flag and silences
        self.stages: tuple[Stage, ...] = (
            DedupStage(),  # what the alert means for its incident (docs/contract.md §5)
            SuppressStage(),  # held back by the flag or a silence, or nowhere to go
            EnqueueStage(),  # a notification for what is left
        )
        self.save = SaveStage()  # incidents, events and outbox rows written

    async def run_many(self, webhooks: Sequence[Webhook]) -> list[Answer]:
        """Decide several webhooks, in order, in one transaction; one answer each."""
        return await self.runner.write(self.work(webhooks))

    def work(self, webhooks: Sequence[Webhook]) -> Callable[[Connection], list[Answer]]:
        """The transaction that decides ``webhooks``: each body is parsed now, once, and
        the valid ones are processed in it (again, if the transaction is retried).

        Identical bodies are parsed once (the payloads are immutable): Alertmanager's HA
        peers send the same bytes, and so does a group sent again unchanged.
        """
        by_body: dict[bytes, WebhookPayload | Rejected] = {}
        for webhook in webhooks:
            if webhook.body not in by_body:
                by_body[webhook.body] = parse(webhook.body)
        parsed = [by_body[webhook.body] for webhook in webhooks]
        received = [
            (payload, webhook.received_at)
            for payload, webhook in zip(parsed, webhooks, strict=True)
            if isinstance(payload, WebhookPayload)
        ]

        def decide(connection: Connection) -> list[Answer]:
            decided = iter(self.process(connection, received) if received else [])
            return [p if isinstance(p, Rejected) else next(decided) for p in parsed]

        return decide

    def process(self, connection: Connection, received: Sequence[Received]) -> list[Summary]:
        """Run every stage over ``received`` in the caller's transaction; one summary each."""
        batch = Batch(connection, received, queued=[[] for _ in received])
        self.route(batch)
        self.lock(batch)
        self.decide(batch)
        self.save(batch)
        return summaries(batch)

    def decide(self, batch: Batch) -> None:
        """Run the deciding stages over every case, in order: a later twin in the batch sees
        what an earlier one did."""
        for case in batch.cases:
            for stage in self.stages:
                stage(batch, case)
                if case.outcome is not None:
                    break


def summaries(batch: Batch) -> list[Summary]:
    """Each webhook's answer: its alerts by status, its cases by outcome."""
    answers = []
    for payload, _ in batch.received:
        summary = Summary(alerts=len(payload.alerts))
        for alert in payload.alerts:
            summary.statuses[alert.status] = summary.statuses.get(alert.status, 0) + 1
        answers.append(summary)
    for index, _, _ in batch.unrouted:
        answers[index].outcomes[Outcome.IGNORED] += 1
    for case in batch.cases:
        assert case.outcome is not None  # every stage has run: every case is closed
        summary = answers[case.webhook]
        summary.outcomes[case.outcome] += 1
        if case.suppressed_by is not None:
            by = summary.suppressed_by
            by[case.suppressed_by] = by.get(case.suppressed_by, 0) + 1
    return answers
