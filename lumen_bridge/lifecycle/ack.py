"""Acknowledge an incident: one semantics for the API, the CLI, the console and the e-mail link
(docs/lifecycle.md).

In one transaction: the incident's ``acked_at``/``acked_by``, the audit entry, and, when its
receiver is a ticket system that was told of this episode, an ``update`` carrying the ack.
An ack holds for the current firing episode; acking it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from lumen_bridge.config import Settings, TicketReceiver
from lumen_bridge.domain.ack import acknowledged, episode_of
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.domain.dedup import Action
from lumen_bridge.domain.notification import AckNote
from lumen_bridge.pipeline.enqueue import build_notifications, notify
from lumen_bridge.store import acks, audit, incidents
from lumen_bridge.store.models import IncidentStatus
from lumen_bridge.store.sql.append import append

__all__ = ["Acked", "NoSuchIncident", "NotAckable", "acknowledge"]


class NoSuchIncident(LookupError):
    """No incident has this id."""


class NotAckable(Exception):
    """The incident is resolved, or the link names an earlier episode (the message says)."""


@dataclass(frozen=True, slots=True)
class Acked:
    """The incident's ack after :func:`acknowledge`."""

    incident_id: int
    acked_at: datetime
    acked_by: str
    already: bool
    """It was acknowledged before: nothing changed."""
    tickets_updated: int


def acknowledge(
    connection: Connection,
    settings: Settings,
    incident_id: int,
    *,
    actor: str,
    now: datetime,
    comment: str = "",
    via: str,
    episode: int | None = None,
) -> Acked:
    """Acknowledge incident ``incident_id`` as ``actor`` (through ``via``: api, console,
    email-link); ``episode`` (a link's) must be the incident's current one."""
    found = acks.locked(connection, incident_id)
    if found is None:
        raise NoSuchIncident(f"no incident {incident_id}")
    incident, acked_by = found
    if episode is not None and episode != episode_of(incident.starts_at):
        raise NotAckable(
            f"incident {incident_id} has fired again since this link was sent: "
            "open it on the console to acknowledge"
        )
    if acknowledged(incident.acked_at, incident.resolved_at):
        assert incident.acked_at is not None
        assert acked_by is not None  # written with acked_at
        return Acked(incident_id, incident.acked_at, acked_by, True, 0)
    if incident.status != IncidentStatus.FIRING or not incident.is_current:
        raise NotAckable(f"incident {incident_id} is resolved: there is nothing to acknowledge")
    acks.mark(connection, incident_id, actor, now)
    audit.record(
        connection,
        at=now,
        actor=actor,
        action=AuditAction.ACK,
        target=str(incident_id),
        detail={"comment": comment, "via": via},
    )
    receiver = next((r for r in settings.receivers if r.name == incident.receiver), None)
    tickets = 0
    if isinstance(receiver, TicketReceiver) and receiver.has_destination and incident.notified:
        queued = [notify(receiver, incident, Action.UPDATE, now)]
        incidents.save(connection, [incident])
        note = AckNote(by=actor, at=now.isoformat(), comment=comment)
        notifications = build_notifications(queued, now)
        for item in notifications[0].items:
            item["snapshot"] = {**item["snapshot"], "acknowledged": note}
        append(connection, [], notifications)
        tickets = 1
    return Acked(incident_id, now, actor, False, tickets)
