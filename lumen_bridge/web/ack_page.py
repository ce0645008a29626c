"""The acknowledge link of a page e-mail (docs/lifecycle.md): ``GET /ack/{token}`` only shows
what the link acknowledges and a button (mail scanners follow links: a GET changes nothing);
the button's ``POST /ack/{token}`` acknowledges.

No session is needed: the signed token is the authority (and carried by the form, so it is
its own CSRF token). The audit log names the actor ``email-link``.
"""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.api.keys import ACK_SECRET, CLOCK, INGEST, RUNNER, SETTINGS
from lumen_bridge.domain.ack import AckClaim, BadToken, acknowledged, episode_of, verify
from lumen_bridge.lifecycle import NoSuchIncident, NotAckable, acknowledge
from lumen_bridge.store import read_models
from lumen_bridge.web.render import error_page, page

__all__ = ["EMAIL_LINK", "ack_form", "ack_with_link"]

EMAIL_LINK = "email-link"
"""Who acknowledged through a page's link, in the audit log."""


def _claim(request: web.Request) -> AckClaim:
    """The token's claim; raise :class:`BadToken` when links are off or it is not valid."""
    if not request.app[SETTINGS].server.external_url:
        raise BadToken("acknowledge links are off on this bridge (server.external_url is unset)")
    return verify(request.app[ACK_SECRET], request.match_info["token"], request.app[CLOCK]())


async def ack_form(request: web.Request) -> web.StreamResponse:
    """``GET /ack/{token}``: what the link acknowledges, and the button that does it."""
    try:
        claim = _claim(request)
    except BadToken as exc:
        return error_page(request, 400, f"{str(exc).capitalize()}.")
    found = await request.app[RUNNER].read(
        lambda connection: read_models.incident_timeline(connection, claim.incident_id)
    )
    if found is None:
        return error_page(request, 404, f"There is no incident {claim.incident_id} any more.")
    incident = found.incident
    return page(
        request,
        "ack.html",
        None,
        incident=incident,
        token=request.match_info["token"],
        earlier_episode=episode_of(incident.starts_at) != claim.episode,
        acked=acknowledged(incident.acked_at, incident.resolved_at),
    )


async def ack_with_link(request: web.Request) -> web.StreamResponse:
    """``POST /ack/{token}``: acknowledge the incident's episode the link names."""
    try:
        claim = _claim(request)
    except BadToken as exc:
        return error_page(request, 400, f"{str(exc).capitalize()}.")
    now, settings = request.app[CLOCK](), request.app[SETTINGS]
    try:
        acked = await request.app[RUNNER].write(
            lambda connection: acknowledge(
                connection,
                settings,
                claim.incident_id,
                actor=EMAIL_LINK,
                now=now,
                via=EMAIL_LINK,
                episode=claim.episode,
            )
        )
    except NoSuchIncident:
        return error_page(request, 404, f"There is no incident {claim.incident_id} any more.")
    except NotAckable as exc:
        return error_page(request, 409, f"{str(exc).capitalize()}.")
    if acked.tickets_updated:
        request.app[INGEST].on_queued()  # wakes the delivery worker
    return page(request, "acked.html", None, acked=acked)
