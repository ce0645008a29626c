"""The incidents page (filtered, paged) and one incident's page with its timeline."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiMapping

from lumen_bridge.api.keys import RUNNER, SETTINGS
from lumen_bridge.domain.alertmanager import storable
from lumen_bridge.notifiers.runbook import runbook_url
from lumen_bridge.store import console_reads, read_models
from lumen_bridge.store.console_reads import IncidentQuery
from lumen_bridge.store.types import row_id
from lumen_bridge.web.render import error_page, page
from lumen_bridge.web.sessions import Session

__all__ = ["incident", "incidents"]

PAGE_SIZE = 50


def _choice(query: MultiMapping[str], name: str) -> str | None:
    value = query.get(name, "").strip()
    return value if value and storable(value) else None


def _page_number(raw: str) -> int:
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < 10**6 else 1


async def incidents(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /``: incidents, firing first, then by latest activity; filters and paging."""
    query = request.query
    status = _choice(query, "status")
    number = _page_number(query.get("page", "1"))
    wanted = IncidentQuery(
        status=status if status in ("firing", "resolved") else None,
        receiver=_choice(query, "receiver"),
        severity=_choice(query, "severity"),
        text=_choice(query, "q"),
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
    found = await request.app[RUNNER].read(
        lambda connection: read_models.incident_timeline(connection, incident_id)
    )
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
    entries.sort(key=lambda entry: entry["at"])
    settings = request.app[SETTINGS]
    return page(
        request,
        "incident.html",
        session,
        incident=row,
        timeline=entries,
        runbook=runbook_url(settings.runbook, row.alertname, row.annotations),
    )
