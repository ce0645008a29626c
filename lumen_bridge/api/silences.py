"""``/silence``: create, list, read and expire silences (admin token), Alertmanager's shape.

Creating or expiring a silence wakes the replayer, which notifies what a silence held back
when it ends (:mod:`lumen_bridge.pipeline.replay`). ``DELETE`` replays at once, before
answering, so the answer means the held-back notifications are queued.
"""

from __future__ import annotations

import json
import uuid

import structlog
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError, invalid_body
from lumen_bridge.api.keys import CLOCK, REPLAYER, RUNNER
from lumen_bridge.api.silence_schemas import (
    GettableSilence,
    InvalidSilence,
    PostableSilence,
    SilenceMatcher,
    SilenceStatus,
    describe,
)
from lumen_bridge.domain.alertmanager import problems
from lumen_bridge.domain.silences import SilenceState, state_at
from lumen_bridge.store import silences
from lumen_bridge.store.silences import SilenceRecord

__all__ = ["create", "expire", "get_silence", "list_silences"]

log = structlog.get_logger("lumen_bridge.silences")

DEFAULT_STATES = (SilenceState.ACTIVE, SilenceState.PENDING)


def _view(silence: SilenceRecord, request: web.Request) -> GettableSilence:
    now = request.app[CLOCK]()
    return GettableSilence(
        id=silence.id,
        status=SilenceStatus(state=state_at(silence.starts_at, silence.ends_at, now).value),
        matchers=[SilenceMatcher.model_validate(m) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        updated_at=silence.updated_at,
        created_by=silence.created_by,
        comment=silence.comment,
    )


def _json(body: GettableSilence | list[GettableSilence], status: int = 200) -> web.Response:
    if isinstance(body, list):
        text = json.dumps([s.model_dump(mode="json", by_alias=True) for s in body])
    else:
        text = body.model_dump_json(by_alias=True)
    return web.json_response(text=text, status=status)


def _logged(event: str, silence: SilenceRecord) -> None:
    """One line at info: who made the silence, which one, what it matches, until when."""
    log.info(
        event,
        silence_id=silence.id,
        created_by=silence.created_by,
        matchers=describe([SilenceMatcher.model_validate(m) for m in silence.matchers]),
        starts_at=silence.starts_at.isoformat(),
        ends_at=silence.ends_at.isoformat(),
    )


def _silence_id(request: web.Request) -> str:
    """The ``{id}`` of the path in its canonical form (404 when it cannot be an id)."""
    raw = request.match_info["id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, f"no silence {raw}") from None


async def create(request: web.Request) -> web.Response:
    """``POST /silence``: 201 with the new silence (an empty matcher list: the global flag)."""
    require_admin(request)
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    body = await request.read()
    now = request.app[CLOCK]()
    try:
        spec = PostableSilence.model_validate_json(body)
        starts_at, ends_at = spec.window(now)
    except ValidationError as exc:
        raise invalid_body(problems(exc), "silence") from exc
    except InvalidSilence as exc:
        raise ApiError(422, "not a valid silence", exc.details) from exc
    silence = await request.app[RUNNER].write(
        lambda connection: silences.add(
            connection,
            matchers=[m.model_dump(by_alias=True) for m in spec.matchers],
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=spec.created_by,
            comment=spec.comment,
            now=now,
        )
    )
    _logged("silence created", silence)
    request.app[REPLAYER].wake()
    return _json(_view(silence, request), status=201)


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
        lambda connection: [
            silence for state in states for silence in silences.in_state(connection, state, now)
        ]
    )
    return _json([_view(s, request) for s in found])


async def get_silence(request: web.Request) -> web.Response:
    """``GET /silence/{id}``."""
    require_admin(request)
    silence_id = _silence_id(request)
    silence = await request.app[RUNNER].read(
        lambda connection: silences.get(connection, silence_id)
    )
    if silence is None:
        raise ApiError(404, f"no silence {silence_id}")
    return _json(_view(silence, request))


async def expire(request: web.Request) -> web.Response:
    """``DELETE /silence/{id}``: end it now, then notify what it held back."""
    require_admin(request)
    silence_id = _silence_id(request)
    now = request.app[CLOCK]()
    silence = await request.app[RUNNER].write(
        lambda connection: silences.expire(connection, silence_id, now)
    )
    if silence is None:
        raise ApiError(404, f"no silence {silence_id}")
    _logged("silence expired", silence)
    replayer = request.app[REPLAYER]
    try:
        await replayer.replay_expired(now)
    except SQLAlchemyError as exc:  # the silence has ended; the watcher replays it later
        log.warning("replay after expiry failed; the watcher retries", error=type(exc).__name__)
        replayer.wake()
    return _json(_view(silence, request))
