"""The OpenAPI 3.1 description of the HTTP API, built from the response models.

``python -m lumen_bridge.api.openapi > docs/openapi.json`` writes the shipped copy;
a test keeps it equal to what ``GET /openapi.json`` serves.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from lumen_bridge import __version__
from lumen_bridge.api.alertmanager_v2 import PostableSilenceV2
from lumen_bridge.api.incident_actions import INCIDENT_ID
from lumen_bridge.api.openapi_paths import more_paths
from lumen_bridge.api.schemas import ErrorBody, IncidentDetail, IncidentList, WebhookResult
from lumen_bridge.api.silence_schemas import GettableSilence, PostableSilence
from lumen_bridge.domain.alertmanager import WebhookPayload

_MODELS: list[type[BaseModel]] = [
    WebhookPayload,
    WebhookResult,
    ErrorBody,
    IncidentList,
    IncidentDetail,
    PostableSilence,
    PostableSilenceV2,
    GettableSilence,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Bad request (body not JSON, or a bad query parameter)",
        401: "Bearer token missing or wrong",
        404: "Not found",
        409: "Conflict with the current state (a silence that has already ended)",
        413: "Body over the size limit",
        415: "Content-Type is not application/json",
        422: "JSON that is not valid here; `details` lists each problem",
        503: "The database cannot take the write; retry",
    }
    return {str(code): _json("ErrorBody", texts[code]) for code in codes}


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _silence_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    silence_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    return {
        "/silence": {
            "post": {
                "summary": "Create a silence (no matchers: raise the global suppression flag)",
                "description": "Alertmanager's silence shape. Give `endsAt` or `duration` "
                "(one of them, not both); `startsAt` defaults to now. An empty `matchers` "
                "list raises the global suppression flag.",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PostableSilence")}},
                },
                "responses": {
                    "201": _json("GettableSilence", "Created"),
                    **_errors(400, 401, 415, 422),
                },
            },
            "get": {
                "summary": "Silences: active then pending, or those of one state",
                "description": "Without `state`: active then pending. A silence stays "
                "readable once expired: `?state=expired` lists the 1000 that ended last.",
                "security": bearer,
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["active", "pending", "expired"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "Silences",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": _ref("GettableSilence")}
                            }
                        },
                    },
                    **_errors(400, 401),
                },
            },
        },
        "/silence/{id}": {
            "get": {
                "summary": "One silence",
                "description": "Any silence, also once it has expired (`status.state`).",
                "security": bearer,
                "parameters": [silence_id],
                "responses": {
                    "200": _json("GettableSilence", "The silence"),
                    **_errors(401, 404),
                },
            },
            "delete": {
                "summary": "Expire a silence now; what it held back is notified before the answer",
                "description": "The silence is not deleted: it stays readable, expired, with "
                "`GET /silence/{id}` and `GET /silence?state=expired`.",
                "security": bearer,
                "parameters": [silence_id],
                "responses": {
                    "200": _json("GettableSilence", "The silence, expired"),
                    **_errors(401, 404),
                },
            },
        },
        "/silence/{id}/extend": {
            "post": {
                "summary": "End a silence in force later",
                "description": "`by` moves its end that much later, `endsAt` sets it; its "
                "reminder and digest are due again. An untilResolved silence may end "
                "silences.until_resolved_max from now at the latest.",
                "security": bearer,
                "parameters": [silence_id],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _EXTEND}},
                },
                "responses": {
                    "200": _json("GettableSilence", "The silence, extended"),
                    **_errors(400, 401, 404, 409, 415, 422),
                },
            },
        },
    }


_EXTEND = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"by": {"type": "string", "examples": ["2h"]}},
            "required": ["by"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"endsAt": {"type": "string", "format": "date-time"}},
            "required": ["endsAt"],
            "additionalProperties": False,
        },
    ]
}


def build_spec() -> dict[str, Any]:
    """The OpenAPI document."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    plain_ok = {"200": {"description": "OK", "content": {"application/json": {}}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lumen-bridge",
            "version": __version__,
            "description": "Incident bridge between Prometheus Alertmanager and on-call people.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _components(),
        },
        "paths": {
            "/webhook": {
                "post": {
                    "summary": "Alertmanager webhook (payload version 4)",
                    "description": "Answered only after every alert is committed. "
                    "Authorization: Bearer $LUMEN_ALERT_TOKEN.",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("WebhookPayload")}},
                    },
                    "responses": {
                        "200": _json("WebhookResult", "Stored and decided"),
                        **_errors(400, 401, 413, 415, 422, 503),
                    },
                }
            },
            **_silence_paths(bearer),
            "/incidents": {
                "get": {
                    "summary": "Deduplicated incidents, most recent activity first",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["firing", "resolved"]},
                        },
                        {"name": "receiver", "in": "query", "schema": {"type": "string"}},
                        {"name": "alertname", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "description": "default 100; values over 1000 are capped",
                            "schema": {"type": "integer", "minimum": 1},
                        },
                    ],
                    "responses": {
                        "200": _json("IncidentList", "Incidents"),
                        **_errors(400, 401),
                    },
                }
            },
            "/incidents/{id}": {
                "get": {
                    "summary": "One incident with its timeline",
                    "security": bearer,
                    "parameters": [INCIDENT_ID],
                    "responses": {
                        "200": _json("IncidentDetail", "The incident"),
                        **_errors(400, 401, 404),
                    },
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": plain_ok}},
            "/readyz": {
                "get": {
                    "summary": "Readiness: database answers, schema at head",
                    "responses": {
                        **plain_ok,
                        "503": {"description": "Not ready", "content": {"application/json": {}}},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus exposition of the bridge's metrics",
                    "responses": {"200": {"description": "OK", "content": {"text/plain": {}}}},
                }
            },
            **more_paths(bearer),
        },
    }


async def serve(request: web.Request) -> web.Response:
    """``GET /openapi.json``."""
    return web.json_response(build_spec())


if __name__ == "__main__":
    print(json.dumps(build_spec(), indent=2, ensure_ascii=False))
