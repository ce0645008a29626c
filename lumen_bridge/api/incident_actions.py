"""``POST /incidents/{id}/ack`` (admin): acknowledge an incident (docs/lifecycle.md).

The body is optional: ``{"comment": "..."}``. The answer says who acknowledged it and when,
whether it already was (a second ack changes nothing) and how many ticket updates went out.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError
from lumen_bridge.api.keys import CLOCK, INGEST, RUNNER, SETTINGS
from lumen_bridge.domain.alertmanager import storable
from lumen_bridge.lifecycle import Acked, NoSuchIncident, NotAckable, acknowledge
from lumen_bridge.store.types import row_id

__all__ = ["INCIDENT_ID", "MAX_COMMENT", "ack_answer", "ack_incident", "openapi_path"]

MAX_COMMENT = 1000
INCIDENT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "description": "ids are signed 64-bit integers; a larger one is a 404",
}
"""The ``{id}`` of an incident's paths, in the OpenAPI document."""


def ack_answer(acked: Acked) -> dict[str, Any]:
    """The JSON answer of an ack."""
    return {
        "incident_id": acked.incident_id,
        "acked_at": acked.acked_at.isoformat(),
        "acked_by": acked.acked_by,
        "already_acknowledged": acked.already,
        "tickets_updated": acked.tickets_updated,
        "message": (
            f"incident {acked.incident_id} was already acknowledged by {acked.acked_by}"
            if acked.already
            else f"incident {acked.incident_id} acknowledged by {acked.acked_by}"
        ),
    }


async def _comment(request: web.Request) -> str:
    """The optional ``comment`` of the body (an empty body is no comment)."""
    raw = await request.read()
    if not raw.strip():
        return ""
    try:
        body = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8
        raise ApiError(400, 'the body must be JSON, e.g. {"comment": "on it"}, or empty') from None
    comment = body.get("comment", "") if isinstance(body, dict) else None
    if not isinstance(comment, str):
        raise ApiError(422, 'the body must be an object with an optional "comment" string')
    if len(comment) > MAX_COMMENT or not storable(comment):
        raise ApiError(
            422, f"comment must be at most {MAX_COMMENT} characters, with no NUL character"
        )
    return comment


async def ack_incident(request: web.Request) -> web.Response:
    """Acknowledge the incident as the admin token's name."""
    actor = require_admin(request)
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(400, f"incident id must be a number, not {raw!r}")
    comment = await _comment(request)
    wanted = row_id(raw)
    if wanted is None:
        raise ApiError(404, f"no incident {raw}")
    incident_id, now, settings = wanted, request.app[CLOCK](), request.app[SETTINGS]
    try:
        acked = await request.app[RUNNER].write(
            lambda connection: acknowledge(
                connection,
                settings,
                incident_id,
                actor=actor,
                now=now,
                comment=comment,
                via="api",
            )
        )
    except NoSuchIncident:
        raise ApiError(404, f"no incident {raw}") from None
    except NotAckable as exc:
        raise ApiError(409, str(exc)) from None
    if acked.tickets_updated:
        request.app[INGEST].on_queued()  # wakes the delivery worker
    return web.json_response(ack_answer(acked))


def openapi_path(
    bearer: list[dict[str, list[str]]], unauthorized: dict[str, Any]
) -> dict[str, Any]:
    """``/incidents/{id}/ack`` in the OpenAPI document."""
    string = {"type": "string"}
    answer = {
        "type": "object",
        "required": [
            "incident_id",
            "acked_at",
            "acked_by",
            "already_acknowledged",
            "tickets_updated",
            "message",
        ],
        "properties": {
            "incident_id": {"type": "integer"},
            "acked_at": {"type": "string", "format": "date-time"},
            "acked_by": string,
            "already_acknowledged": {"type": "boolean"},
            "tickets_updated": {"type": "integer"},
            "message": string,
        },
    }
    error = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    }
    return {
        "post": {
            "summary": "Acknowledge an incident: no reminders or escalation for this episode",
            "security": bearer,
            "parameters": [INCIDENT_ID],
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"comment": {"type": "string", "maxLength": MAX_COMMENT}},
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Acknowledged (or it already was)",
                    "content": {"application/json": {"schema": answer}},
                },
                "400": {"description": "An id or body that is not valid", **error},
                "404": {"description": "No such incident", **error},
                "409": {"description": "The incident is resolved", **error},
                "422": {"description": "A comment that is not valid", **error},
                **unauthorized,
            },
        }
    }
