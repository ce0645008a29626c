"""``POST /notifications/{id}/resend`` (admin): queue a copy of a dead notification.

The copy is a new outbox row whose ``Idempotency-Key`` is the dead one's plus ``-resend-N``
(:mod:`lumen_bridge.store.resend`): the receiver sees a new request, not a retry.
"""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError
from lumen_bridge.api.keys import CLOCK, INGEST, RUNNER
from lumen_bridge.store.resend import NoSuchNotification, NotDead, resend
from lumen_bridge.store.types import row_id

__all__ = ["resend_notification"]


async def resend_notification(request: web.Request) -> web.Response:
    """201 with the new row's id and key; 404 for no such notification, 409 if not dead."""
    actor = require_admin(request)
    raw = request.match_info["id"]
    outbox_id, now = row_id(raw), request.app[CLOCK]()
    if outbox_id is None:
        raise ApiError(404, f"no notification {raw}")
    try:
        resent = await request.app[RUNNER].write(lambda c: resend(c, outbox_id, now, actor))
    except NoSuchNotification as exc:
        raise ApiError(404, str(exc)) from None
    except NotDead as exc:
        raise ApiError(409, str(exc)) from None
    request.app[INGEST].on_queued()
    return web.json_response(
        {"id": resent.id, "idempotency_key": resent.idempotency_key}, status=201
    )
