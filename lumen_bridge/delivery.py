"""The delivery side of the app: one HTTP session, a notifier per receiver, the worker.

:func:`delivery_context` is the ``cleanup_ctx`` that ``create_app`` installs after the
database: it starts the outbox worker and, on shutdown, stops it (finishing or
releasing what is in flight) before the database closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from lumen_bridge.clock import Clock
from lumen_bridge.config import EmailReceiver, Settings, TicketReceiver
from lumen_bridge.keys import CLOCK, INGEST, METRICS, OUTBOX, SETTINGS, TRANSACTIONS
from lumen_bridge.notifiers import Notifier
from lumen_bridge.notifiers.email import EmailNotifier
from lumen_bridge.notifiers.http import JsonPoster
from lumen_bridge.notifiers.ticket import TicketNotifier
from lumen_bridge.notifiers.webhook import WebhookNotifier
from lumen_bridge.outbox import INGEST_FIRST, OutboxWorker


def build_notifiers(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> dict[str, Notifier]:
    """A notifier for every receiver that has a destination, by receiver name."""
    notifiers: dict[str, Notifier] = {}
    for receiver in settings.receivers:
        if not receiver.has_destination:
            continue
        if isinstance(receiver, EmailReceiver):
            notifiers[receiver.name] = EmailNotifier(receiver, settings.runbook, clock)
            continue
        assert receiver.url is not None  # has_destination
        poster = JsonPoster(session, receiver.url, receiver.token, receiver.timeout, clock)
        kind = TicketNotifier if isinstance(receiver, TicketReceiver) else WebhookNotifier
        notifiers[receiver.name] = kind(poster, settings.runbook)
    return notifiers


async def delivery_context(app: web.Application) -> AsyncIterator[None]:
    """Run the outbox worker while the app runs."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        worker = OutboxWorker(
            app[TRANSACTIONS],
            build_notifiers(settings, session, app[CLOCK]),
            settings.outbox,
            app[METRICS],
            app[CLOCK],
            ingest_saturated=lambda: app[INGEST].saturated(INGEST_FIRST),
        )
        app[OUTBOX] = worker
        worker.start()
        yield
        await worker.stop()
        for notifier in worker.notifiers.values():
            if isinstance(notifier, EmailNotifier):
                await notifier.close()
