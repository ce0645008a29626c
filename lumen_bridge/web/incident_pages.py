"""The incidents page (filtered, paged), one incident's page with its timeline, and its
acknowledge button (docs/lifecycle.md)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lumen_bridge.api.incident_actions import MAX_COMMENT
from lumen_bridge.api.keys import CLOCK, INGEST, RUNNER, SETTINGS
from lumen_bridge.domain.ack import acknowledged
from lumen_bridge.domain.alertmanager import storable
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.lifecycle import NoSuchIncident, NotAckable, acknowledge
from lumen_bridge.notifiers.runbook import runbook_url
from lumen_bridge.store import audit, console_reads, read_models
from lumen_bridge.store.console_reads import IncidentQuery
from lumen_bridge.store.types import row_id
from lumen_bridge.web.render import error_page, filter_value, page
from lumen_bridge.web.sessions import Session

__all__ = ["ack", "incident", "incidents"]

PAGE_SIZE = 50


def _page_number(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10**6 else 1


async def incidents(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /``: incidents, firing first, then by latest activity; filters and paging."""
    status = filter_value(request, "status")
    number = _page_number(request.query.get("page", "1"))
    wanted = IncidentQuery(
        status=status if status in ("firing", "resolved") else None,
        receiver=filter_value(request, "receiver"),
        severity=filter_value(request, "severity"),
        text=filter_value(request, "q"),
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )

    def read(connection: Any) -> tuple[Any, list[str]]:
        return (
            console_reads.search_incidents(connection, wanted),
            console_reads.severities(connection),
        )

    rows, severities = await request.app[RUNNER].read(read)
    filters = {
        key: value
        for key, value in (
            ("status", wanted.status),
            ("receiver", wanted.receiver),
            ("severity", wanted.severity),
            ("q", wanted.text),
        )
        if value
    }
    return page(
        request,
        "incidents.html",
        session,
        incidents=rows[:PAGE_SIZE],
        filters=filters,
        page_number=number,
        has_next=len(rows) > PAGE_SIZE,
        receivers=[r.name for r in request.app[SETTINGS].receivers],
        severities=severities,
    )


async def incident(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/incidents/{id}``: the incident, its links and its timeline."""
    raw = request.match_info["id"]
    wanted = row_id(raw)
    if wanted is None:
        return error_page(request, 404, f"There is no incident {raw}.", session)
    incident_id = wanted

    def read(connection: Any) -> tuple[Any, list[audit.AuditRecord]]:
        acks = audit.listed(connection, action=AuditAction.ACK.value, target=str(incident_id))
        return read_models.incident_timeline(connection, incident_id), acks

    found, acks = await request.app[RUNNER].read(read)
    if found is None:
        return error_page(request, 404, f"There is no incident {raw}.", session)
    row = found.incident
    entries: list[dict[str, Any]] = [
        {"at": event.received_at, "type": "alert", "event": event} for event in found.events
    ]
    entries += [
        {
            "at": notification.created_at,
            "type": "notification",
            "notification": notification,
            "attempts": [a for a in found.attempts if a.outbox_id == notification.id],
        }
        for notification in found.notifications
    ]
    entries += [{"at": entry.at, "type": "ack", "ack": entry} for entry in acks]
    entries.sort(key=lambda entry: entry["at"])
    settings = request.app[SETTINGS]
    return page(
        request,
        "incident.html",
        session,
        incident=row,
        timeline=entries,
        runbook=runbook_url(settings.runbook, row.alertname, row.annotations),
        acked=acknowledged(row.acked_at, row.resolved_at),
        max_comment=MAX_COMMENT,
    )


async def ack(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/incidents/{id}/ack``: acknowledge the incident as the signed-in admin."""
    raw = request.match_info["id"]
    wanted = row_id(raw)
    if wanted is None:
        return error_page(request, 404, f"There is no incident {raw}.", session)
    incident_id, now, settings = wanted, request.app[CLOCK](), request.app[SETTINGS]
    form = await request.post()
    comment = str(form.get("comment", "")).strip()[:MAX_COMMENT]
    try:
        acked = await request.app[RUNNER].write(
            lambda connection: acknowledge(
                connection,
                settings,
                incident_id,
                actor=session.actor,
                now=now,
                comment=comment if storable(comment) else "",
                via="console",
            )
        )
    except NoSuchIncident:
        return error_page(request, 404, f"There is no incident {raw}.", session)
    except NotAckable as exc:
        return error_page(request, 409, f"{str(exc).capitalize()}.", session)
    if acked.tickets_updated:
        request.app[INGEST].on_queued()  # wakes the delivery worker
    raise web.HTTPSeeOther(f"/ui/incidents/{incident_id}")
