"""``GET /incidents`` and ``GET /incidents/{id}`` (admin token): incidents with their ack and
escalation (docs/lifecycle.md); one incident's timeline also lists its acks."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Connection, Row

from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError, query_text
from lumen_bridge.api.keys import RUNNER
from lumen_bridge.api.schemas import (
    AttemptOut,
    IncidentDetail,
    IncidentList,
    IncidentOut,
    TimelineEntry,
)
from lumen_bridge.domain.ack import acknowledged
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.pipeline.enqueue import dedup_key
from lumen_bridge.store import audit, read_models
from lumen_bridge.store.audit import AuditRecord
from lumen_bridge.store.read_models import Timeline
from lumen_bridge.store.types import row_id

__all__ = ["get_incident", "list_incidents"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _incident_fields(incident: Row[Any]) -> dict[str, object]:
    return {
        "id": incident.id,
        "dedup_key": dedup_key(incident.id),
        "receiver": incident.receiver,
        "fingerprint": incident.identity,
        "current": incident.is_current,
        "status": incident.status,
        "alertname": incident.alertname,
        "severity": incident.severity,
        "labels": incident.labels,
        "annotations": incident.annotations,
        "starts_at": incident.starts_at,
        "ends_at": incident.ends_at,
        "first_seen": incident.first_seen,
        "last_seen": incident.last_seen,
        "resolved_at": incident.resolved_at,
        "occurrences": incident.occurrences,
        "last_notified_at": incident.last_notified_at,
        "notified": incident.notified,
        "held": incident.held,
        "am_state": incident.am_state,
        "am_absent_since": incident.am_absent_since,
        "acknowledged": acknowledged(incident.acked_at, incident.resolved_at),
        "acked_at": incident.acked_at,
        "acked_by": incident.acked_by,
        "escalation_level": incident.escalation_level,
        "escalated_at": incident.escalated_at,
    }


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise ApiError(400, "limit must be a positive integer")
    return min(value, MAX_LIMIT)


async def list_incidents(request: web.Request) -> web.Response:
    """Incidents, most recent activity first; ``?status=``, ``?receiver=``, ``?alertname=``."""
    require_admin(request)
    query = request.query
    status = query.get("status")
    if status not in (None, "firing", "resolved"):
        raise ApiError(400, "status must be firing or resolved")
    limit = _limit(query.get("limit"))
    receiver, alertname = query_text(query, "receiver"), query_text(query, "alertname")
    rows = await request.app[RUNNER].read(
        lambda connection: read_models.list_incidents(
            connection,
            status=status,
            receiver=receiver,
            alertname=alertname,
            limit=limit,
        )
    )
    body = IncidentList(incidents=[IncidentOut.model_validate(_incident_fields(i)) for i in rows])
    return web.json_response(text=body.model_dump_json())


async def get_incident(request: web.Request) -> web.Response:
    """One incident with its timeline: alerts received, notifications and their attempts."""
    require_admin(request)
    raw_id = request.match_info["id"]
    if not (raw_id.isascii() and raw_id.isdigit()):
        raise ApiError(400, f"incident id must be a number, not {raw_id!r}")
    incident_id = row_id(raw_id)  # None: a number past every id, which names no incident
    found: Timeline | None = None
    acks: list[AuditRecord] = []
    if incident_id is not None:
        wanted = incident_id

        def read(connection: Connection) -> tuple[Timeline | None, list[AuditRecord]]:
            acked = audit.listed(connection, action=AuditAction.ACK.value, target=str(wanted))
            return read_models.incident_timeline(connection, wanted), acked

        found, acks = await request.app[RUNNER].read(read)
    if found is None:
        raise ApiError(404, f"no incident {raw_id}")
    timeline = [
        TimelineEntry(
            at=e.received_at,
            type="alert",
            status=e.status,
            detail={
                "outcome": e.outcome,
                "reason": e.reason,
                "starts_at": e.starts_at.isoformat(),
                "ends_at": e.ends_at.isoformat() if e.ends_at else None,
            },
        )
        for e in found.events
    ]
    for notification in found.notifications:
        timeline.append(
            TimelineEntry(
                at=notification.created_at,
                type="notification",
                status=notification.status,
                detail={
                    "id": notification.id,
                    "receiver": notification.receiver,
                    "kind": notification.kind,
                    "action": notification.item_action,
                    "attempts": notification.attempts,
                    "delivered_at": (
                        notification.delivered_at.isoformat() if notification.delivered_at else None
                    ),
                    "last_error": notification.last_error,
                },
                attempts=[
                    AttemptOut.model_validate(a)
                    for a in found.attempts
                    if a.outbox_id == notification.id
                ],
            )
        )
    timeline += [
        TimelineEntry(
            at=a.at, type="ack", status="acknowledged", detail={"by": a.actor, **a.detail}
        )
        for a in acks
    ]
    timeline.sort(key=lambda entry: entry.at)
    detail = IncidentDetail.model_validate(
        _incident_fields(found.incident) | {"timeline": timeline}
    )
    return web.json_response(text=detail.model_dump_json())
