"""Who may use the console: sign-in with an admin token (the session then acts in its
name), sign-out, and the guard every page passes (a signed-in session; on every POST, the
session's CSRF token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from yarl import URL

from lumen_bridge.api.auth import admin_named
from lumen_bridge.api.keys import CLOCK, SETTINGS
from lumen_bridge.web.render import error_page, page
from lumen_bridge.web.sessions import COOKIE, Session, Sessions, set_cookie

__all__ = ["Gate", "Page"]

Page = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
"""A console page: it gets the request and the signed-in session."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _local(target: str) -> str:
    """``target`` when it is a path of this site, else ``/`` (no open redirect)."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if ok else "/"


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    form = await request.post()
    given = form.get("csrf")
    return isinstance(given, str) and session.csrf_matches(given)


class Gate:
    """The sessions of one application and the handlers that open and close them."""

    def __init__(self) -> None:
        self.sessions = Sessions()

    def guard(self, handler: Page) -> Handler:
        """``handler`` behind sign-in (when an admin token is configured) and CSRF checks."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            now = request.app[CLOCK]()
            session = self.sessions.find(request, now)
            fresh = None
            if session is None or not session.signed_in:
                if request.app[SETTINGS].auth.admins():
                    if request.method not in ("GET", "HEAD"):
                        return error_page(request, 403, "Your session has ended: sign in again.")
                    raise web.HTTPSeeOther(URL("/ui/sign-in").with_query(next=request.path_qs))
                session = fresh = self.sessions.start(now, signed_in=True)
            if request.method == "POST" and not await _csrf_ok(request, session):
                return error_page(
                    request,
                    403,
                    "This form was not sent from this console (its CSRF token is "
                    "missing or wrong). Reload the page and try again.",
                    session,
                )
            response = await handler(request, session)
            if fresh is not None:
                set_cookie(response, request, fresh)
            return response

        return guarded

    async def sign_in_form(self, request: web.Request) -> web.StreamResponse:
        """``GET /ui/sign-in``: the form (straight to the console when no token is set)."""
        if not request.app[SETTINGS].auth.admins():
            raise web.HTTPSeeOther("/")
        return self._form(request, 200, "", request.query.get("next", "/"))

    def _form(self, request: web.Request, status: int, problem: str, target: str) -> web.Response:
        now = request.app[CLOCK]()
        session = self.sessions.find(request, now) or self.sessions.start(now, signed_in=False)
        response = page(
            request,
            "sign_in.html",
            session,
            status=status,
            problem=problem,
            next=_local(target),
        )
        set_cookie(response, request, session)
        return response

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        """``POST /ui/sign-in``: check the token; on success a new signed-in session."""
        auth = request.app[SETTINGS].auth
        if not auth.admins():
            raise web.HTTPSeeOther("/")
        now = request.app[CLOCK]()
        form = await request.post()
        target = str(form.get("next", "/"))
        session = self.sessions.find(request, now)
        if session is None or not await _csrf_ok(request, session):
            return self._form(request, 403, "The form had expired. Please sign in again.", target)
        given = form.get("token")
        sent = given.encode("utf-8", "surrogateescape") if isinstance(given, str) else b""
        actor = admin_named(auth, sent)
        if actor is None:
            return self._form(request, 401, "That is not an admin token.", target)
        self.sessions.end(session)  # a new id once signed in: no session fixation
        signed_in = self.sessions.start(now, signed_in=True, actor=actor)
        response = web.HTTPSeeOther(_local(target))
        set_cookie(response, request, signed_in)
        raise response

    async def sign_out(self, request: web.Request, session: Session) -> web.StreamResponse:
        """``POST /ui/sign-out``: forget the session."""
        self.sessions.end(session)
        response = web.HTTPSeeOther("/ui/sign-in" if request.app[SETTINGS].auth.admins() else "/")
        response.del_cookie(COOKIE, path="/")
        raise response
