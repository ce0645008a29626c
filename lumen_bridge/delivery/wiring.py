"""The delivery side assembled: one HTTP session, a notifier per receiver, the worker.

:func:`delivering` runs the worker for as long as its block: it starts it, and at the end
stops it (finishing or releasing what is in flight) and closes the notifiers' sessions.
The composition root (:mod:`lumen_bridge.app`) enters it after the database is open.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from lumen_bridge.clock import Clock
from lumen_bridge.config import EmailReceiver, Settings, TicketReceiver
from lumen_bridge.delivery.worker import IngestPressure, OutboxWorker
from lumen_bridge.metrics import Metrics
from lumen_bridge.notifiers import Notifier
from lumen_bridge.notifiers.ack_links import AckLinks
from lumen_bridge.notifiers.email import EmailNotifier
from lumen_bridge.notifiers.http import JsonPoster
from lumen_bridge.notifiers.ticket import TicketNotifier
from lumen_bridge.notifiers.webhook import WebhookNotifier
from lumen_bridge.store.runner import Runner

__all__ = ["build_notifiers", "delivering"]


def build_notifiers(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: Clock,
    ack_secret: bytes | None = None,
) -> dict[str, Notifier]:
    """A notifier for every receiver that has a destination, by receiver name; pages carry
    acknowledge links when ``server.external_url`` and ``ack_secret`` are set."""
    external_url = settings.server.external_url
    ack_links = (
        AckLinks(external_url, ack_secret, settings.ack.link_ttl)
        if external_url and ack_secret
        else None
    )
    notifiers: dict[str, Notifier] = {}
    for receiver in settings.receivers:
        if not receiver.has_destination:
            continue
        if isinstance(receiver, EmailReceiver):
            notifiers[receiver.name] = EmailNotifier(
                receiver, settings.runbook, clock, external_url=external_url, ack_links=ack_links
            )
            continue
        assert receiver.url is not None  # has_destination
        poster = JsonPoster(session, receiver.url, receiver.token, receiver.timeout, clock)
        kind = TicketNotifier if isinstance(receiver, TicketReceiver) else WebhookNotifier
        notifiers[receiver.name] = kind(poster, settings.runbook, settings.server.external_url)
    return notifiers


@contextlib.asynccontextmanager
async def delivering(
    settings: Settings,
    runner: Runner,
    metrics: Metrics,
    clock: Clock,
    pressure: IngestPressure,
    ack_secret: bytes | None = None,
) -> AsyncIterator[OutboxWorker]:
    """Run the delivery worker until the block ends."""
    async with aiohttp.ClientSession() as session:
        worker = OutboxWorker(
            runner,
            build_notifiers(settings, session, clock, ack_secret),
            settings.outbox,
            metrics,
            clock,
            pressure=pressure,
        )
        worker.start()
        try:
            yield worker
        finally:
            await worker.stop()
            for notifier in worker.notifiers.values():
                if isinstance(notifier, EmailNotifier):
                    await notifier.close()
