"""The audit log: every human action with who did it, written in the action's own
transaction (so an action and its entry commit together, or neither does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.store.models import AuditEntry

__all__ = ["MAX_LISTED", "AuditRecord", "listed", "record"]

MAX_LISTED = 500
"""At most this many entries per read (newest first; page with ``before``)."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of ``audit_log``."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


def record(
    connection: Connection,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry: ``actor`` did ``action`` to ``target`` (an incident, silence or
    notification id), with ``detail``."""
    connection.execute(
        insert(AuditEntry).values(
            at=at, actor=actor, action=action.value, target=target, detail=detail or {}
        )
    )


def listed(
    connection: Connection,
    *,
    limit: int = 100,
    before: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> list[AuditRecord]:
    """The newest ``limit`` entries (at most :data:`MAX_LISTED`) older than id ``before``,
    optionally only one actor's, one action's or one target's."""
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(limit, MAX_LISTED))
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    if actor is not None:
        statement = statement.where(AuditEntry.actor == actor)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    if target is not None:
        statement = statement.where(AuditEntry.target == target)
    return [AuditRecord(**row._mapping) for row in connection.execute(statement)]
