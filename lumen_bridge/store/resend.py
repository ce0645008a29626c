"""Re-sending a dead notification: a new pending copy of its outbox row and items.

The copy's ``Idempotency-Key`` is the old one plus ``-resend-N`` (N counts the re-sends of
that row), so the receiver sees a new request, not a retry of the dead one. Each item takes
its incident's next sequence number, as the pipeline's enqueue does, so the unique
(incident, sequence) constraint still holds and later notifications keep unique keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.store import audit
from lumen_bridge.store.models import Incident, Notification, NotificationItem, OutboxStatus

__all__ = ["NoSuchNotification", "NotDead", "Resent", "resend"]


class NotDead(Exception):
    """The notification does not exist or is not dead."""


class NoSuchNotification(NotDead):
    """There is no notification with that id."""


@dataclass(frozen=True, slots=True)
class Resent:
    """The new outbox row."""

    id: int
    idempotency_key: str


def resend(connection: Connection, outbox_id: int, now: datetime, actor: str) -> Resent:
    """Queue a copy of dead notification ``outbox_id``, due at ``now``, at ``actor``'s
    request (the audit log records it)."""
    old = connection.execute(
        select(Notification).where(Notification.id == outbox_id).with_for_update()
    ).one_or_none()
    if old is None:
        raise NoSuchNotification(f"no notification {outbox_id}")
    if old.status != OutboxStatus.DEAD:
        raise NotDead(f"notification {outbox_id} is not a dead notification")
    prefix = f"{old.idempotency_key}-resend-"
    earlier = connection.scalar(
        select(func.count()).where(Notification.idempotency_key.startswith(prefix, autoescape=True))
    )
    key = f"{prefix}{(earlier or 0) + 1}"
    new_id: int = connection.execute(
        insert(Notification)
        .values(
            receiver=old.receiver,
            kind=old.kind,
            action=old.action,
            idempotency_key=key,
            status=OutboxStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            notice=old.notice,
        )
        .returning(Notification.id)
    ).scalar_one()
    items = connection.execute(
        select(NotificationItem)
        .where(NotificationItem.outbox_id == outbox_id)
        .order_by(NotificationItem.id)
    ).all()
    for item in items:
        seq = connection.execute(
            update(Incident)
            .where(Incident.id == item.incident_id)
            .values(notify_seq=Incident.notify_seq + 1)
            .returning(Incident.notify_seq)
        ).scalar_one()
        connection.execute(
            insert(NotificationItem).values(
                outbox_id=new_id,
                incident_id=item.incident_id,
                seq=seq,
                action=item.action,
                snapshot=item.snapshot,
            )
        )
    audit.record(
        connection,
        at=now,
        actor=actor,
        action=AuditAction.RESEND,
        target=str(outbox_id),
        detail={"new_id": new_id, "receiver": old.receiver, "idempotency_key": key},
    )
    return Resent(new_id, key)
