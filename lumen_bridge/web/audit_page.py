"""The audit log's page: who did what, newest first, filtered by who and what
(docs/audit.md)."""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.api.keys import RUNNER
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.store import audit
from lumen_bridge.store.types import row_id
from lumen_bridge.web.render import filter_value, page
from lumen_bridge.web.sessions import Session

__all__ = ["audit_log"]

PAGE_SIZE = 100
ACTIONS = [action.value for action in AuditAction]


async def audit_log(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/audit?actor=&action=&target=&before=``."""
    actor = filter_value(request, "actor")
    target = filter_value(request, "target")
    action = request.query.get("action", "") if request.query.get("action") in ACTIONS else None
    before = row_id(request.query.get("before", ""))
    entries = await request.app[RUNNER].read(
        lambda connection: audit.listed(
            connection, limit=PAGE_SIZE, before=before, actor=actor, action=action, target=target
        )
    )
    more = len(entries) == PAGE_SIZE
    return page(
        request,
        "audit.html",
        session,
        entries=entries,
        actions=ACTIONS,
        actor=actor or "",
        action=action or "",
        target=target or "",
        next_before=entries[-1].id if more else None,
    )
