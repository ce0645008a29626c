"""Every route of the web console, registered by :func:`add_routes`."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from lumen_bridge.web import (
    ack_page,
    audit_page,
    delivery_pages,
    explain_page,
    flag_page,
    incident_pages,
    silence_pages,
)
from lumen_bridge.web.gate import Gate

__all__ = ["add_routes"]

STATIC = Path(__file__).with_name("static")


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the console's pages on ``router``; its sessions live with it."""
    gate = Gate()
    guard = gate.guard
    router.add_get("/", guard(incident_pages.incidents))
    router.add_get("/ui/incidents/{id}", guard(incident_pages.incident))
    router.add_post("/ui/incidents/{id}/ack", guard(incident_pages.ack))
    router.add_get("/ui/silences", guard(silence_pages.list_silences))
    router.add_post("/ui/silences", guard(silence_pages.create))
    router.add_post("/ui/silences/{id}/expire", guard(silence_pages.expire))
    router.add_post("/ui/silences/{id}/extend", guard(silence_pages.extend))
    router.add_get("/ui/flag", guard(flag_page.flag))
    router.add_post("/ui/flag", guard(flag_page.raise_flag))
    router.add_post("/ui/flag/lower", guard(flag_page.lower))
    router.add_get("/ui/deliveries", guard(delivery_pages.deliveries))
    router.add_post("/ui/deliveries/{id}/resend", guard(delivery_pages.resend_dead))
    router.add_get("/ui/audit", guard(audit_page.audit_log))
    router.add_get("/ui/explain", guard(explain_page.explain_form))
    router.add_post("/ui/explain", guard(explain_page.explain_webhook))
    router.add_get("/ui/sign-in", gate.sign_in_form)
    router.add_post("/ui/sign-in", gate.sign_in)
    router.add_get("/ack/{token}", ack_page.ack_form)  # a page's link: the token is the authority
    router.add_post("/ack/{token}", ack_page.ack_with_link)
    router.add_post("/ui/sign-out", guard(gate.sign_out))
    router.add_static("/ui/static/", STATIC, append_version=False)
