"""The explain form: a webhook body in, :mod:`lumen_bridge.pipeline.explain`'s answer out,
readably (nothing is stored or sent)."""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.api.explain import rendered
from lumen_bridge.api.keys import CLOCK, INGEST, SETTINGS
from lumen_bridge.domain.alertmanager import Rejected, parse
from lumen_bridge.pipeline.explain import explain
from lumen_bridge.web.render import page
from lumen_bridge.web.sessions import Session

__all__ = ["explain_form", "explain_webhook"]

MAX_BODY_CHARS = 1_000_000


async def explain_form(request: web.Request, session: Session) -> web.StreamResponse:
    """``GET /ui/explain``."""
    return page(request, "explain.html", session, body="", problems=None, explained=None)


async def explain_webhook(request: web.Request, session: Session) -> web.StreamResponse:
    """``POST /ui/explain``: what a post of the body would do now."""
    form = await request.post()
    body = str(form.get("body", ""))
    if len(body) > MAX_BODY_CHARS:
        problems = [f"The body is over {MAX_BODY_CHARS:,} characters."]
        return page(
            request,
            "explain.html",
            session,
            status=413,
            body="",
            problems=problems,
            explained=None,
        )
    payload = parse(body.encode("utf-8", "surrogateescape"))
    if isinstance(payload, Rejected):
        problems = [
            f"{'.'.join(map(str, p['loc'])) or 'body'}: {p['msg']}" for p in payload.problems
        ]
        return page(
            request,
            "explain.html",
            session,
            status=422,
            body=body,
            problems=problems,
            explained=None,
        )
    explained = await explain(request.app[INGEST].pipeline, payload, request.app[CLOCK]())
    settings = request.app[SETTINGS]
    return page(
        request,
        "explain.html",
        session,
        body=body,
        problems=None,
        explained=explained,
        sent=[rendered(settings, n) for n in explained.notifications],
    )
