"""Console sessions: kept in memory, named by a random id in an HttpOnly, SameSite=Strict
cookie (the cookie never holds the admin token), each with its own CSRF token.

A session that has not signed in yet (the sign-in form's) lives a few minutes; a signed-in
one lives :data:`SIGNED_IN_FOR`. While no admin token is configured (the server then binds
loopback only) every visitor gets a signed-in session at once, still with its CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from lumen_bridge.domain.audit import LOCAL

__all__ = ["COOKIE", "SIGNED_IN_FOR", "Session", "Sessions", "set_cookie"]

COOKIE = "lumen_session"
SIGNED_IN_FOR = timedelta(hours=8)
SIGNING_IN_FOR = timedelta(minutes=15)
MAX_SIGNED_IN = 10_000
MAX_SIGNING_IN = 1_000


@dataclass(slots=True)
class Session:
    """One browser's session."""

    id: str
    csrf: str
    signed_in: bool
    expires_at: datetime
    actor: str
    """Who signed in: the name of the admin token given (``local`` while none is set)."""

    def csrf_matches(self, given: str) -> bool:
        """Whether ``given`` is this session's CSRF token (compared in constant time)."""
        return hmac.compare_digest(given.encode(), self.csrf.encode())


class Sessions:
    """The sessions of one application.

    Sessions still signing in are kept apart, and fewer: anyone may open one, and a flood of
    them must not push out the sessions of people who signed in.
    """

    def __init__(self) -> None:
        self._signed_in: dict[str, Session] = {}
        self._signing_in: dict[str, Session] = {}

    def start(self, now: datetime, *, signed_in: bool, actor: str = LOCAL) -> Session:
        """A new session of ``actor`` with fresh random id and CSRF token."""
        kept, cap = (
            (self._signed_in, MAX_SIGNED_IN) if signed_in else (self._signing_in, MAX_SIGNING_IN)
        )
        for session_id in [k for k, s in kept.items() if s.expires_at <= now]:
            del kept[session_id]
        while len(kept) >= cap:  # the oldest made go first
            del kept[next(iter(kept))]
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            signed_in=signed_in,
            expires_at=now + (SIGNED_IN_FOR if signed_in else SIGNING_IN_FOR),
            actor=actor,
        )
        kept[session.id] = session
        return session

    def find(self, request: web.Request, now: datetime) -> Session | None:
        """The live session the request's cookie names, if any."""
        session_id = request.cookies.get(COOKIE, "")
        session = self._signed_in.get(session_id) or self._signing_in.get(session_id)
        if session is None or session.expires_at <= now:
            return None
        return session

    def end(self, session: Session) -> None:
        """Forget ``session``."""
        self._signed_in.pop(session.id, None)
        self._signing_in.pop(session.id, None)


def set_cookie(response: web.StreamResponse, request: web.Request, session: Session) -> None:
    """Name ``session`` in the response's cookie."""
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=int(SIGNED_IN_FOR.total_seconds()) if session.signed_in else None,
    )
