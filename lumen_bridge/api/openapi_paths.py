"""The OpenAPI paths of explain, re-sending, and Alertmanager's API v2 (docs/alertmanager-api.md);
:mod:`lumen_bridge.api.openapi` puts them into the document."""

from __future__ import annotations

from typing import Any

from lumen_bridge.api.audit import openapi_path as audit_path
from lumen_bridge.api.incident_actions import openapi_path as ack_path

__all__ = ["more_paths"]

_STRING = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_LABELS = {"type": "object", "additionalProperties": _STRING}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def _error(code: int, description: str) -> dict[str, Any]:
    return _ok(description, _ref("ErrorBody"), str(code))


_UNAUTHORIZED = _error(401, "Bearer token missing or wrong")
_FILTER = {
    "name": "filter",
    "in": "query",
    "description": 'Alertmanager matchers, e.g. alertname="Foo"; repeatable',
    "schema": {"type": "array", "items": _STRING},
    "style": "form",
    "explode": True,
}
_SILENCE_ID = {"name": "id", "in": "path", "required": True, "schema": _STRING}
_ALERT = {
    "type": "object",
    "required": [
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "updatedAt",
        "fingerprint",
        "receivers",
        "status",
    ],
    "properties": {
        "labels": _LABELS,
        "annotations": _LABELS,
        "startsAt": _TIME,
        "endsAt": _TIME,
        "updatedAt": _TIME,
        "generatorURL": _STRING,
        "fingerprint": _STRING,
        "receivers": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": _STRING}, "required": ["name"]},
        },
        "status": {
            "type": "object",
            "properties": {
                "state": {"type": "string", "enum": ["active", "suppressed"]},
                "silencedBy": {"type": "array", "items": _STRING},
                "inhibitedBy": {"type": "array", "items": _STRING},
            },
            "required": ["state", "silencedBy", "inhibitedBy"],
        },
    },
}


def _alertmanager(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    bad_filter = _error(400, "A filter that is not a matcher")
    return {
        "/api/v2/silences": {
            "get": {
                "summary": "Alertmanager API v2: every silence (active, pending, expired)",
                "security": bearer,
                "parameters": [_FILTER],
                "responses": {
                    **_ok("Silences", {"type": "array", "items": _ref("GettableSilence")}),
                    **bad_filter,
                    **_UNAUTHORIZED,
                },
            },
            "post": {
                "summary": "Alertmanager API v2: create a silence, or update the one `id` names",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PostableSilenceV2")}},
                },
                "responses": {
                    **_ok(
                        "The silence's id",
                        {
                            "type": "object",
                            "properties": {"silenceID": _STRING},
                            "required": ["silenceID"],
                        },
                    ),
                    **_ok("Not a valid silence (the reason, as Alertmanager)", _STRING, "400"),
                    **_UNAUTHORIZED,
                    **_error(404, "No silence with that id"),
                },
            },
        },
        "/api/v2/silence/{id}": {
            "get": {
                "summary": "Alertmanager API v2: one silence",
                "security": bearer,
                "parameters": [_SILENCE_ID],
                "responses": {
                    **_ok("The silence", _ref("GettableSilence")),
                    **_UNAUTHORIZED,
                    **_error(404, "No silence with that id"),
                },
            },
            "delete": {
                "summary": "Alertmanager API v2: expire a silence now",
                "security": bearer,
                "parameters": [_SILENCE_ID],
                "responses": {
                    "200": {"description": "Expired"},
                    **_UNAUTHORIZED,
                    **_error(404, "No silence with that id"),
                },
            },
        },
        "/api/v2/status": {
            "get": {
                "summary": "Alertmanager API v2: enough of the status for clients that probe it",
                "security": bearer,
                "responses": {**_ok("Status", {"type": "object"}), **_UNAUTHORIZED},
            }
        },
        "/api/v2/alerts": {
            "get": {
                "summary": "Alertmanager API v2: the firing incidents as alerts",
                "security": bearer,
                "parameters": [
                    _FILTER,
                    {"name": "active", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "silenced", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    **_ok("Alerts", {"type": "array", "items": _ALERT}),
                    **bad_filter,
                    **_UNAUTHORIZED,
                },
            }
        },
    }


def more_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The paths of ``POST /explain``, ``POST /notifications/{id}/resend`` and
    ``/api/v2``."""
    return {
        "/explain": {
            "post": {
                "summary": "What a post of this webhook would do, and why; nothing is stored",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("WebhookPayload")}},
                },
                "responses": {
                    **_ok(
                        "The explanation",
                        {
                            "type": "object",
                            "required": ["answer", "alerts", "notifications", "stored"],
                            "properties": {
                                "answer": _ref("WebhookResult"),
                                "alerts": {"type": "array", "items": {"type": "object"}},
                                "notifications": {"type": "array", "items": {"type": "object"}},
                                "stored": {"type": "boolean", "const": False},
                            },
                        },
                    ),
                    **_error(400, "Body not JSON"),
                    **_UNAUTHORIZED,
                    **_error(415, "Content-Type is not application/json"),
                    **_error(422, "Not a valid webhook; `details` lists each problem"),
                },
            }
        },
        "/notifications/{id}/resend": {
            "post": {
                "summary": "Queue a copy of a dead notification (its key plus -resend-N)",
                "security": bearer,
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": _STRING}],
                "responses": {
                    **_ok(
                        "Queued",
                        {
                            "type": "object",
                            "required": ["id", "idempotency_key"],
                            "properties": {"id": {"type": "integer"}, "idempotency_key": _STRING},
                        },
                        "201",
                    ),
                    **_UNAUTHORIZED,
                    **_error(404, "No notification with that id"),
                    **_error(409, "The notification is not dead"),
                },
            }
        },
        "/audit": audit_path(bearer, _UNAUTHORIZED),
        "/incidents/{id}/ack": ack_path(bearer, _UNAUTHORIZED),
        **_alertmanager(bearer),
    }
