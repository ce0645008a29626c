"""JSON errors: every error answer, and the middleware that makes them.

Every error the API returns is JSON with an ``error`` field (and ``details`` for
validation errors); nothing returned ever carries a token, a password or a trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiohttp import web
from multidict import MultiMapping
from pydantic_core import ErrorDetails
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge.domain.alertmanager import storable

log = structlog.get_logger("lumen_bridge.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(
    status: int, message: str, details: list[dict[str, Any]] | None = None
) -> web.Response:
    """A JSON error answer."""
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return web.json_response(body, status=status)


class ApiError(Exception):
    """Raised by handlers to answer with a JSON error."""

    def __init__(
        self, status: int, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        """The JSON answer for this error."""
        return json_error(self.status, self.message, self.details)


def invalid_body(problems: Sequence[ErrorDetails], what: str) -> ApiError:
    """400 when the body is not JSON at all, else 422 listing every problem
    (:func:`lumen_bridge.domain.alertmanager.problems`)."""
    if any(e["type"] == "json_invalid" for e in problems):
        return ApiError(400, "body is not valid JSON")
    details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in problems]
    return ApiError(422, f"not a valid {what}", details)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into a JSON answer."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_error(exc.status, exc.reason)
        if "Allow" in exc.headers:  # 405: the methods the path serves (RFC 9110 §15.5.6)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except (SQLAlchemyError, OSError) as exc:  # the database is away: retry later, not a bug
        log.warning(
            "database unavailable",
            method=request.method,
            path=request.path,
            error=type(exc).__name__,
        )
        return json_error(503, "database unavailable; retry later")
    except Exception:
        log.exception("unhandled error", method=request.method, path=request.path)
        return json_error(500, "internal error; see the bridge's log")


def query_text(query: MultiMapping[str], name: str) -> str | None:
    """The query parameter ``name`` (None when absent); 400 when no database could store it
    (a NUL character, a lone surrogate)."""
    value = query.get(name)
    if value is not None and not storable(value):
        raise ApiError(400, f"{name} must not contain a NUL character or a lone surrogate")
    return value
