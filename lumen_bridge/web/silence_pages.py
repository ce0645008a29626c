"""The silences page: active, pending and expired silences; create one (with a preview of
the firing incidents it would hold; until resolved, or recurring), expire one, extend one.
The writes go through
:mod:`lumen_bridge.api.silence_actions`, so the console and the APIs share one semantics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Connection

from lumen_bridge.api import silence_actions
from lumen_bridge.api.keys import CLOCK, RUNNER, SETTINGS
from lumen_bridge.api.schedule_schemas import WeeklySpec
from lumen_bridge.api.silence_schemas import InvalidSilence, PostableSilence, SilenceMatcher
from lumen_bridge.config import parse_duration
from lumen_bridge.domain.matchers import MatcherError, matches_all, parse_matcher
from lumen_bridge.domain.silences import SilenceEnded, SilenceState
from lumen_bridge.store import read_models, silences
from lumen_bridge.web.render import error_page, page
from lumen_bridge.web.sessions import Session

__all__ = ["create", "expire", "extend", "list_silences", "silence_form"]

DEFAULT_FORM = {
    "matchers": "",
    "duration": "2h",
    "comment": "",
    "author": "",
    "until_resolved": "",
    "grace": "",
    "timezone": "",
    "weekly": "",
    "cron": "",
    "window": "",
}


def silence_form(form: Any) -> dict[str, str]:
    """The form's fields as text (missing ones empty)."""
    return {name: str(form.get(name, "")) for name in DEFAULT_FORM}


def _spec(fields: dict[str, str]) -> PostableSilence:
    """The silence the form describes (raises ``ValueError`` with a plain message)."""
    lines = [line.strip() for line in fields["matchers"].splitlines() if line.strip()]
    if not lines:
        raise ValueError(
            'Give at least one matcher, such as alertname="Foo" (to hold back every alert, '
            "raise the suppression flag instead)."
        )
    try:
        matchers = [SilenceMatcher.of(parse_matcher(line)) for line in lines]
        return PostableSilence.model_validate(
            {
                "matchers": [m.model_dump(by_alias=True) for m in matchers],
                "duration": fields["duration"].strip() or None,
                "comment": fields["comment"],
                "createdBy": fields["author"].strip() or "console",
                "untilResolved": bool(fields["until_resolved"]),
                "grace": fields["grace"].strip() or None,
                "schedule": _schedule(fields),
            }
        )
    except (MatcherError, InvalidSilence) as exc:
        raise ValueError(str(exc)) from None
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"] for e in exc.errors())) from None


def _schedule(fields: dict[str, str]) -> dict[str, Any] | None:
    """The form's recurring window (weekly, or cron with its window), if any."""
    timezone, weekly, cron = (fields[k].strip() for k in ("timezone", "weekly", "cron"))
    if not (timezone or weekly or cron):
        return None
    return {
        "timezone": timezone,
        "weekly": WeeklySpec.parse(weekly).model_dump() if weekly else None,
        "cron": cron or None,
        "window": fields["window"].strip() or None,
    }


def _all(connection: Connection, now: datetime) -> dict[str, list[Any]]:
    return {
        state.value: silences.in_state(connection, state, now)
        for state in (SilenceState.ACTIVE, SilenceState.PENDING, SilenceState.EXPIRED)
    }


async def _page(
    request: web.Request,
    session: Session,
    fields: dict[str, str],
    *,
    problem: str = "",
    preview: list[Any] | None = None,
    status: int = 200,
) -> web.Response:
    now = request.app[CLOCK]()
    found = await request.app[RUNNER].read(lambda connection: _all(connection, now))
    shown = {
        state: [silence_actions.view(s, now) for s in records if s.matchers]
        for state, records in found.items()
    }
    return page(
        request,
        "silences.html",
        session,
        status=status,
        silences=shown,
        form=fields,
        problem=problem,
        preview=preview,
    )


async def list_silences(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/silences``; ``?matchers=`` fills the form in (the "silence it" link of a page
    or a ticket), to be reviewed before it is submitted."""
    fields = dict(DEFAULT_FORM)
    fields["matchers"] = request.query.get("matchers", "")
    return await _page(request, session, fields)


async def create(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/silences``: ``action=preview`` lists the firing incidents the matchers hold;
    ``action=create`` creates the silence."""
    form = await request.post()
    fields = silence_form(form)
    now = request.app[CLOCK]()
    try:
        spec = _spec(fields)
        starts_at, ends_at = spec.window(now, request.app[SETTINGS].silences.until_resolved_max)
    except (ValueError, InvalidSilence) as exc:
        return await _page(request, session, fields, problem=str(exc), status=422)
    if form.get("action") == "preview":
        matchers = [m.matcher() for m in spec.matchers]
        firing = await request.app[RUNNER].read(read_models.firing_incidents)
        held = [row for row in firing if matches_all(matchers, row.labels)]
        return await _page(request, session, fields, preview=held)
    await silence_actions.create(request.app, spec, starts_at, ends_at, now, actor=session.actor)
    raise web.HTTPSeeOther("/ui/silences")


def _silence_id(request: web.Request) -> str | None:
    try:
        return str(uuid.UUID(request.match_info["id"]))
    except ValueError:
        return None


async def expire(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/silences/{id}/expire``: end it now; what it held back is notified."""
    wanted = _silence_id(request)
    found = None
    if wanted is not None:
        found = await silence_actions.expire(
            request.app, wanted, request.app[CLOCK](), actor=session.actor
        )
    if found is None:
        return error_page(request, 404, "There is no such silence.", session)
    raise web.HTTPSeeOther("/ui/silences")


async def extend(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/silences/{id}/extend``: push its end later by the form's ``by`` duration
    (:func:`lumen_bridge.api.silence_actions.extend`, as ``POST /silence/{id}/extend``)."""
    form = await request.post()
    wanted = _silence_id(request)
    old = None
    if wanted is not None:
        old = await request.app[RUNNER].read(lambda connection: silences.get(connection, wanted))
    if wanted is None or old is None:
        return error_page(request, 404, "There is no such silence.", session)
    by = str(form.get("by", "")).strip()
    try:
        ends_at = old.ends_at + parse_duration(by)
    except (ValueError, OverflowError):
        return error_page(request, 422, f"{by!r} is not a duration such as 30m, 2h or 1d.", session)
    now = request.app[CLOCK]()
    try:
        await silence_actions.extend(request.app, wanted, ends_at, now, actor=session.actor)
    except SilenceEnded as exc:
        return error_page(request, 409, f"This silence is over: {exc}.", session)
    except ValueError as exc:
        return error_page(request, 422, f"It cannot be extended so: {exc}.", session)
    raise web.HTTPSeeOther("/ui/silences")
