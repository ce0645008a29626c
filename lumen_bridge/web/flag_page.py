"""The suppression flag (docs/contract.md §6): raising it for a while is a silence without
matchers; lowering it expires every active one. ``LUMEN_ALERT_SUPPRESSED=1`` raises it from
the configuration, which the console cannot lower."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from lumen_bridge.api import silence_actions
from lumen_bridge.api.keys import CLOCK, RUNNER, SETTINGS
from lumen_bridge.api.silence_schemas import InvalidSilence, PostableSilence
from lumen_bridge.domain.silences import SilenceState
from lumen_bridge.store import silences
from lumen_bridge.web.render import page
from lumen_bridge.web.sessions import Session

__all__ = ["flag", "lower", "raise_flag"]


async def _page(
    request: web.Request, session: Session, *, problem: str = "", status: int = 200
) -> web.Response:
    now = request.app[CLOCK]()
    found = await request.app[RUNNER].read(
        lambda connection: [
            silence_actions.view(s, now)
            for s in silences.in_states(
                connection, (SilenceState.ACTIVE, SilenceState.PENDING), now
            )
            if not s.matchers
        ]
    )
    return page(
        request,
        "flag.html",
        session,
        status=status,
        flags=found,
        raised=any(s.status.state == "active" for s in found),
        by_config=request.app[SETTINGS].suppression.flag,
        problem=problem,
    )


async def flag(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/flag``: whether the flag is raised, by what, until when."""
    return await _page(request, session)


async def raise_flag(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/flag``: raise the flag for the form's duration."""
    form = await request.post()
    now = request.app[CLOCK]()
    try:
        spec = PostableSilence.model_validate(
            {
                "matchers": [],
                "duration": str(form.get("duration", "")).strip() or None,
                "comment": str(form.get("comment", "")),
                "createdBy": str(form.get("author", "")).strip() or "console",
            }
        )
        starts_at, ends_at = spec.window(now, request.app[SETTINGS].silences.until_resolved_max)
    except ValidationError as exc:
        problem = "; ".join(str(e["msg"]) for e in exc.errors())
        return await _page(request, session, problem=problem, status=422)
    except InvalidSilence as exc:
        return await _page(request, session, problem=str(exc), status=422)
    await silence_actions.create(request.app, spec, starts_at, ends_at, now, actor=session.actor)
    raise web.HTTPSeeOther("/ui/flag")


async def lower(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/flag/lower``: expire every active silence without matchers."""
    now = request.app[CLOCK]()
    active = await request.app[RUNNER].read(
        lambda connection: silences.in_state(connection, SilenceState.ACTIVE, now)
    )
    for silence in active:
        if not silence.matchers:
            await silence_actions.expire(request.app, silence.id, now, actor=session.actor)
    raise web.HTTPSeeOther("/ui/flag")
