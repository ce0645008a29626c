"""Rendering the console's pages: Jinja2 templates (autoescaped) shipped in the package."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from lumen_bridge.api.keys import CLOCK, SETTINGS
from lumen_bridge.domain.alertmanager import storable
from lumen_bridge.web.sessions import Session

__all__ = ["error_page", "filter_value", "page"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("lumen_bridge.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    """A UTC time to the second, or a dash."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _web_link(value: str | None) -> str:
    """``value`` when it is an http(s) URL, else empty: links from alerts are untrusted."""
    return value if value and urlsplit(value).scheme.lower() in ("http", "https") else ""


_ENV.filters["when"] = _when
_ENV.filters["web_link"] = _web_link


def page(
    request: web.Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    **context: Any,
) -> web.Response:
    """``template`` rendered as an HTML answer, with what every page shows (the menu, the
    CSRF token of ``session`` for its forms)."""
    html = _ENV.get_template(template).render(
        request=request,
        session=session,
        auth_on=bool(request.app[SETTINGS].auth.admins()),
        now=request.app[CLOCK](),
        **context,
    )
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(
    request: web.Request, status: int, message: str, session: Session | None = None
) -> web.Response:
    """An HTML error page saying ``message``."""
    return page(request, "error.html", session, status=status, status_code=status, message=message)


def filter_value(request: web.Request, name: str) -> str | None:
    """A page's filter from the query string: None when empty, or when no stored text could
    match it (a NUL, a lone surrogate)."""
    value = request.query.get(name, "").strip()
    return value if value and storable(value) else None
