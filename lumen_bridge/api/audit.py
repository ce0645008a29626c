"""``GET /audit`` (admin): the audit log, newest first (docs/audit.md).

Every human action — ack, a silence created, updated, extended or expired, the flag raised
or lowered, a re-send — is recorded in the action's own transaction with who did it: the
name of the admin token (``admin`` for the unnamed one, ``local`` while authentication is
off). Filters: ``actor``, ``action``, ``target``; paging: ``limit`` and ``before`` (the
``next_before`` of the previous answer).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError, query_text
from lumen_bridge.api.keys import RUNNER
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.store import audit
from lumen_bridge.store.audit import MAX_LISTED, AuditRecord
from lumen_bridge.store.types import MAX_ID, row_id

__all__ = ["entry", "list_audit", "openapi_path"]

ACTIONS = [action.value for action in AuditAction]


def entry(record: AuditRecord) -> dict[str, Any]:
    """One entry as the API answers it."""
    return {
        "id": record.id,
        "at": record.at.isoformat(),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "detail": record.detail,
    }


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LISTED:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LISTED}")
    return int(raw)


def _before(raw: str | None) -> int | None:
    if raw is None:
        return None
    before = row_id(raw)
    if before is None:
        raise ApiError(400, "before must be an entry id (the next_before of the last page)")
    return before


async def list_audit(request: web.Request) -> web.Response:
    """``GET /audit``: ``{"entries": [...], "next_before": id or null}``."""
    require_admin(request)
    query = request.query
    action = query.get("action")
    if action is not None and action not in ACTIONS:
        raise ApiError(400, f"action must be one of {', '.join(ACTIONS)}")
    limit, before = _limit(query.get("limit")), _before(query.get("before"))
    actor, target = query_text(query, "actor"), query_text(query, "target")
    found = await request.app[RUNNER].read(
        lambda connection: audit.listed(
            connection,
            limit=limit,
            before=before,
            actor=actor,
            action=action,
            target=target,
        )
    )
    more = len(found) == limit and found[-1].id > 1
    return web.json_response(
        {"entries": [entry(r) for r in found], "next_before": found[-1].id if more else None}
    )


def openapi_path(
    bearer: list[dict[str, list[str]]], unauthorized: dict[str, Any]
) -> dict[str, Any]:
    """``/audit`` in the OpenAPI document."""
    string, action = {"type": "string"}, {"enum": ACTIONS}
    item = {
        "type": "object",
        "required": ["id", "at", "actor", "action", "target", "detail"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "actor": string,
            "action": action,
            "target": string,
            "detail": {"type": "object"},
        },
    }

    def param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "description": description, "schema": schema}

    def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    page = {
        "type": "object",
        "required": ["entries", "next_before"],
        "properties": {
            "entries": {"type": "array", "items": item},
            "next_before": {"type": ["integer", "null"]},
        },
    }
    error = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        "get": {
            "summary": "The audit log: every human action with who did it, newest first",
            "security": bearer,
            "parameters": [
                param("actor", "Only this admin token's name", string),
                param("action", "Only this action", action),
                param("target", "Only this incident, silence or notification id", string),
                param(
                    "limit",
                    "At most this many",
                    {"type": "integer", "minimum": 1, "maximum": MAX_LISTED},
                ),
                param(
                    "before",
                    "Only entries older than this id (next_before)",
                    {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                ),
            ],
            "responses": {
                "200": answer("The entries", page),
                "400": answer("A filter or paging parameter is not valid", error),
                **unauthorized,
            },
        }
    }
