"""``/silence``: create, list, read and expire silences (admin token), Alertmanager's shape.

Also the silence watcher's lifetime (:func:`replay_watcher`, a ``cleanup_ctx``): it
notifies what a silence held back when the silence ends. ``DELETE`` replays at once,
before answering, so the answer means the held-back notifications are queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge import keys
from lumen_bridge.api.errors import ApiError, invalid_body, require_bearer
from lumen_bridge.payload import problems
from lumen_bridge.pipeline.replay import Replayer
from lumen_bridge.silences import (
    GettableSilence,
    InvalidSilence,
    PostableSilence,
    SilenceMatcher,
    SilenceState,
    SilenceStatus,
    state_at,
)
from lumen_bridge.store import silences
from lumen_bridge.store.models import Silence

log = structlog.get_logger("lumen_bridge.silences")

DEFAULT_STATES = (SilenceState.ACTIVE, SilenceState.PENDING)


def _view(silence: Silence, request: web.Request) -> GettableSilence:
    now = request.app[keys.CLOCK]()
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


def _admin(request: web.Request) -> None:
    require_bearer(request, request.app[keys.SETTINGS].auth.admin_token)


def _silence_id(request: web.Request) -> str:
    """The ``{id}`` of the path in its canonical form (404 when it cannot be an id)."""
    raw = request.match_info["id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, f"no silence {raw}") from None


async def create(request: web.Request) -> web.Response:
    """``POST /silence``: 201 with the new silence (an empty matcher list: the global flag)."""
    _admin(request)
    if request.content_type != "application/json":
        raise ApiError(415, "Content-Type must be application/json")
    body = await request.read()
    now = request.app[keys.CLOCK]()
    try:
        spec = PostableSilence.model_validate_json(body)
        starts_at, ends_at = spec.window(now)
    except ValidationError as exc:
        raise invalid_body(problems(exc), "silence") from exc
    except InvalidSilence as exc:
        raise ApiError(422, "not a valid silence", exc.details) from exc
    async with request.app[keys.SESSIONS]() as session, session.begin():
        silence = await silences.add(
            session,
            matchers=[m.model_dump(by_alias=True) for m in spec.matchers],
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=spec.created_by,
            comment=spec.comment,
            now=now,
        )
    request.app[keys.REPLAYER].wake()
    return _json(_view(silence, request), status=201)


async def list_silences(request: web.Request) -> web.Response:
    """``GET /silence``: active then pending; ``?state=active|pending|expired`` for one state."""
    _admin(request)
    raw = request.query.get("state")
    try:
        states = DEFAULT_STATES if raw is None else (SilenceState(raw),)
    except ValueError:
        raise ApiError(400, "state must be active, pending or expired") from None
    now = request.app[keys.CLOCK]()
    async with request.app[keys.SESSIONS]() as session:
        found = [
            s for state in states for s in await session.run_sync(silences.in_state, state, now)
        ]
    return _json([_view(s, request) for s in found])


async def get_silence(request: web.Request) -> web.Response:
    """``GET /silence/{id}``."""
    _admin(request)
    silence_id = _silence_id(request)
    async with request.app[keys.SESSIONS]() as session:
        silence = await silences.get(session, silence_id)
    if silence is None:
        raise ApiError(404, f"no silence {silence_id}")
    return _json(_view(silence, request))


async def expire(request: web.Request) -> web.Response:
    """``DELETE /silence/{id}``: end it now, then notify what it held back."""
    _admin(request)
    silence_id = _silence_id(request)
    now = request.app[keys.CLOCK]()
    async with request.app[keys.SESSIONS]() as session, session.begin():
        silence = await silences.expire(session, silence_id, now)
    if silence is None:
        raise ApiError(404, f"no silence {silence_id}")
    replayer = request.app[keys.REPLAYER]
    try:
        await replayer.replay_expired(now)
    except SQLAlchemyError as exc:  # the silence has ended; the watcher replays it later
        log.warning("replay after expiry failed; the watcher retries", error=type(exc).__name__)
        replayer.wake()
    return _json(_view(silence, request))


async def replay_watcher(app: web.Application) -> AsyncIterator[None]:
    """Run the silence watcher while the application runs (after the database is open)."""

    def wake_outbox() -> None:
        worker = app.get(keys.OUTBOX)
        if worker is not None:
            worker.wake()

    replayer = Replayer(
        app[keys.PIPELINE], app[keys.SESSIONS], app[keys.CLOCK], on_queued=wake_outbox
    )
    app[keys.REPLAYER] = replayer
    task = asyncio.create_task(replayer.run(), name="silence-watcher")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def add_routes(app: web.Application) -> None:
    """Register the ``/silence`` handlers and the watcher."""
    app.cleanup_ctx.append(replay_watcher)
    app.router.add_post("/silence", create)
    app.router.add_get("/silence", list_silences)
    app.router.add_get("/silence/{id}", get_silence)
    app.router.add_delete("/silence/{id}", expire)
