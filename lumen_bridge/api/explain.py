"""``POST /explain`` (admin): what the bridge would do with a webhook body, without doing it.

The body is a webhook, as Alertmanager would post it. The answer tells, for each alert, the
routes tried and why, the incident as it is, the dedup decision (the row of the table in
docs/contract.md §5), the flag or the silences that would hold it, and the notification that
would be queued, with its idempotency key and its rendered e-mail or ticket body; and the
answer a real post would get. Nothing is stored or sent
(:mod:`lumen_bridge.pipeline.explain`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError, invalid_body
from lumen_bridge.api.keys import CLOCK, INGEST, SETTINGS
from lumen_bridge.config import EmailReceiver, Settings, TicketReceiver
from lumen_bridge.domain.alertmanager import Rejected, parse
from lumen_bridge.domain.notification import AlertSnapshot, Delivery
from lumen_bridge.notifiers.email.render import build_page, page_templates
from lumen_bridge.notifiers.ticket import ticket_body
from lumen_bridge.notifiers.webhook import forward_body
from lumen_bridge.pipeline.explain import explain
from lumen_bridge.store.sql.append import NewNotification

__all__ = ["explain_webhook", "rendered"]


async def explain_webhook(request: web.Request) -> web.Response:
    """Explain the webhook in the body; 400/422 as ``POST /webhook`` for a bad body."""
    require_admin(request)
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    payload = parse(await request.read())
    if isinstance(payload, Rejected):
        raise invalid_body(payload.problems, "Alertmanager webhook (version 4)")
    app = request.app
    explained = await explain(app[INGEST].pipeline, payload, app[CLOCK]())
    settings = app[SETTINGS]
    return web.json_response(
        {
            "answer": explained.answer.as_json(),
            "alerts": explained.alerts,
            "notifications": [rendered(settings, n) for n in explained.notifications],
            "stored": False,
        }
    )


def rendered(settings: Settings, notification: NewNotification) -> dict[str, Any]:
    """The notification as its receiver would get it."""
    row = notification.row
    alerts: list[AlertSnapshot] = [item["snapshot"] for item in notification.items]
    delivery = Delivery(
        id=0,
        receiver=row["receiver"],
        action=row["action"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        attempt=1,
        alerts=alerts,
    )
    receiver = settings.receiver(row["receiver"])
    shown: dict[str, Any] = {
        "receiver": receiver.name,
        "kind": receiver.type,
        "action": row["action"],
        "idempotency_key": row["idempotency_key"],
    }
    if isinstance(receiver, EmailReceiver):
        templates = page_templates(receiver.templates)
        page = build_page(
            delivery,
            receiver,
            settings.runbook,
            templates,
            row["created_at"],
            "lumen-bridge",
            settings.server.external_url,
        )
        shown["subject"] = str(page["Subject"])
        shown["to"] = receiver.to
        plain = next(part for part in page.walk() if part.get_content_type() == "text/plain")
        shown["text"] = bytes(plain.get_payload(decode=True)).decode()
    elif isinstance(receiver, TicketReceiver):
        shown["body"] = ticket_body(
            alerts[0], row["action"], settings.runbook, settings.server.external_url
        )
    else:
        shown["body"] = forward_body(
            alerts[0], delivery, settings.runbook, settings.server.external_url
        )
    return shown
