"""``/silence``: create, list, read, extend and expire silences (admin token), Alertmanager's
shape with the bridge's own fields (until resolved, recurring windows).

Creating, extending and expiring go through :mod:`lumen_bridge.api.silence_actions`, as
Alertmanager's API and the console do. ``DELETE`` replays at once, before answering, so
the answer means the held-back notifications are queued.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from lumen_bridge.api import silence_actions
from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError, invalid_body
from lumen_bridge.api.keys import CLOCK, RUNNER, SETTINGS
from lumen_bridge.api.silence_actions import silence_id, view
from lumen_bridge.api.silence_schemas import GettableSilence, InvalidSilence, PostableSilence
from lumen_bridge.config import parse_duration
from lumen_bridge.domain.alertmanager import problems
from lumen_bridge.domain.silences import SilenceEnded, SilenceState
from lumen_bridge.store import silences

__all__ = ["create", "expire", "extend", "get_silence", "list_silences"]

DEFAULT_STATES = (SilenceState.ACTIVE, SilenceState.PENDING)


def _json(body: GettableSilence | list[GettableSilence], status: int = 200) -> web.Response:
    if isinstance(body, list):
        text = json.dumps(
            [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in body]
        )
    else:
        text = body.model_dump_json(by_alias=True, exclude_none=True)
    return web.json_response(text=text, status=status)


async def create(request: web.Request) -> web.Response:
    """``POST /silence``: 201 with the new silence (an empty matcher list: the global flag)."""
    actor = require_admin(request)
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    body = await request.read()
    now = request.app[CLOCK]()
    try:
        spec = PostableSilence.model_validate_json(body)
        starts_at, ends_at = spec.window(now, request.app[SETTINGS].silences.until_resolved_max)
    except ValidationError as exc:
        raise invalid_body(problems(exc), "silence") from exc
    except InvalidSilence as exc:
        raise ApiError(422, "not a valid silence", exc.details) from exc
    silence = await silence_actions.create(request.app, spec, starts_at, ends_at, now, actor=actor)
    return _json(view(silence, now), status=201)


async def list_silences(request: web.Request) -> web.Response:
    """``GET /silence``: active then pending; ``?state=active|pending|expired`` for one state."""
    require_admin(request)
    raw = request.query.get("state")
    try:
        states = DEFAULT_STATES if raw is None else (SilenceState(raw),)
    except ValueError:
        raise ApiError(400, "state must be active, pending or expired") from None
    now = request.app[CLOCK]()
    found = await request.app[RUNNER].read(
        lambda connection: silences.in_states(connection, states, now)
    )
    return _json([view(s, now) for s in found])


async def get_silence(request: web.Request) -> web.Response:
    """``GET /silence/{id}``."""
    require_admin(request)
    wanted = silence_id(request)
    silence = await request.app[RUNNER].read(lambda connection: silences.get(connection, wanted))
    if silence is None:
        raise ApiError(404, f"no silence {wanted}")
    return _json(view(silence, request.app[CLOCK]()))


async def expire(request: web.Request) -> web.Response:
    """``DELETE /silence/{id}``: end it now, then notify what it held back."""
    actor = require_admin(request)
    wanted = silence_id(request)
    now = request.app[CLOCK]()
    silence = await silence_actions.expire(request.app, wanted, now, actor=actor)
    if silence is None:
        raise ApiError(404, f"no silence {wanted}")
    return _json(view(silence, now))


def _new_end(body: Any, ends_at: datetime) -> datetime:
    """The end an extend body asks for: ``{"by": "2h"}`` after the current end, or
    ``{"endsAt": "..."}`` (raises ``ApiError`` 422)."""
    if not isinstance(body, dict) or len(body) != 1 or not {"by", "endsAt"} & body.keys():
        raise ApiError(422, 'give {"by": "2h"} or {"endsAt": "2026-12-24T18:00:00Z"}')
    try:
        if "by" in body:
            return ends_at + parse_duration(str(body["by"]))
        new_end = datetime.fromisoformat(str(body["endsAt"]))
    except (ValueError, OverflowError) as exc:
        raise ApiError(422, f"not a valid extension: {exc}") from None
    if new_end.tzinfo is None:
        raise ApiError(422, "endsAt needs a time zone (Z or an offset)")
    return new_end.astimezone(UTC)


async def extend(request: web.Request) -> web.Response:
    """``POST /silence/{id}/extend``: ``{"by": "2h"}`` or ``{"endsAt": ...}``; 404 unknown,
    409 already ended, 422 bad input."""
    actor = require_admin(request)
    wanted = silence_id(request)
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    try:
        body = json.loads(await request.read())
    except ValueError:
        raise ApiError(400, "the body is not JSON") from None
    now = request.app[CLOCK]()
    old = await request.app[RUNNER].read(lambda connection: silences.get(connection, wanted))
    if old is None:
        raise ApiError(404, f"no silence {wanted}")
    try:
        silence = await silence_actions.extend(
            request.app, wanted, _new_end(body, old.ends_at), now, actor=actor
        )
    except SilenceEnded as exc:
        raise ApiError(409, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, f"not a valid extension: {exc}") from None
    if silence is None:
        raise ApiError(404, f"no silence {wanted}")
    return _json(view(silence, now))
