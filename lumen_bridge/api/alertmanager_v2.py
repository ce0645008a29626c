"""Alertmanager's API v2, the part that silence tools use, so amtool and Grafana work as is.

``GET/POST /api/v2/silences``, ``GET/DELETE /api/v2/silence/{id}``, ``GET /api/v2/status``
and ``GET /api/v2/alerts``, in Alertmanager's JSON shapes, with the admin token. The
silences are the same as ``/silence``'s: one store, one semantics (docs/silences.md). Where
Alertmanager differs, it is said here: a silence without matchers is refused (Alertmanager
refuses it too; ``POST /silence`` with no matchers raises the global flag), and the alerts
listed are the bridge's firing incidents, with the silences that hold them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError
from sqlalchemy import Connection

from lumen_bridge import __version__
from lumen_bridge.api import silence_actions
from lumen_bridge.api.auth import require_admin
from lumen_bridge.api.errors import ApiError, invalid_body
from lumen_bridge.api.keys import CLOCK, RUNNER, SETTINGS
from lumen_bridge.api.silence_actions import silence_id, view
from lumen_bridge.api.silence_schemas import InvalidSilence, PostableSilence
from lumen_bridge.domain.alertmanager import problems
from lumen_bridge.domain.matchers import Matcher, MatcherError, matches_all, parse_matcher
from lumen_bridge.domain.silences import SilenceState
from lumen_bridge.domain.suppression import usable_matchers
from lumen_bridge.store import read_models, silences
from lumen_bridge.store.silences import SilenceRecord

__all__ = [
    "delete_silence",
    "get_silence",
    "list_alerts",
    "list_silences",
    "post_silence",
    "status",
]

_STARTED = datetime.now(UTC)


class PostableSilenceV2(PostableSilence):
    """Alertmanager's ``PostableSilence``: with the ``id`` of a silence to update."""

    id: str | None = Field(default=None, description="Update this silence instead.")


def _bad_request(message: str) -> web.Response:
    """Alertmanager's 400: the reason as a JSON string (what amtool prints)."""
    return web.json_response(message, status=400)


def _filters(request: web.Request) -> list[Matcher]:
    """The ``filter`` query parameters (``alertname="Foo"``), or 400."""
    try:
        return [parse_matcher(text.strip("{}")) for text in request.query.getall("filter", [])]
    except MatcherError as exc:
        raise ApiError(400, f"bad filter: {exc}") from exc


def _boolean(request: web.Request, name: str) -> bool:
    """The query parameter ``name``: ``true`` (the default) or ``false``, or 400."""
    values = request.query.getall(name, ["true"])
    if any(value not in ("true", "false") for value in values):
        raise ApiError(400, f"{name} must be true or false")
    return values[-1] == "true"


async def list_silences(request: web.Request) -> web.Response:
    """``GET /api/v2/silences``: every silence (active, pending, then expired) whose matchers,
    taken as labels, satisfy the ``filter`` matchers (as Alertmanager filters them)."""
    require_admin(request)
    filters = _filters(request)
    now = request.app[CLOCK]()
    found = await request.app[RUNNER].read(
        lambda connection: silences.in_states(
            connection, (SilenceState.ACTIVE, SilenceState.PENDING, SilenceState.EXPIRED), now
        )
    )
    chosen = [
        silence
        for silence in found
        if matches_all(filters, {m["name"]: m["value"] for m in silence.matchers})
    ]
    body = [view(silence, now).model_dump(mode="json", by_alias=True) for silence in chosen]
    return web.json_response(text=json.dumps(body))


async def post_silence(request: web.Request) -> web.Response:
    """``POST /api/v2/silences``: create a silence, or update the one ``id`` names; answers
    ``{"silenceID": ...}``."""
    actor = require_admin(request)
    now = request.app[CLOCK]()
    try:
        spec = PostableSilenceV2.model_validate_json(await request.read())
        starts_at, ends_at = spec.window(now, request.app[SETTINGS].silences.until_resolved_max)
    except ValidationError as exc:
        details = invalid_body(problems(exc), "silence").details or []
        return _bad_request(
            "not a valid silence: "
            + "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details)
        )
    except InvalidSilence as exc:
        return _bad_request(f"not a valid silence: {exc}")
    if not spec.matchers:
        return _bad_request(
            "a silence needs at least one matcher (POST /silence with none raises the flag)"
        )
    if spec.id:
        wanted = spec.id
        old = await request.app[RUNNER].read(lambda connection: silences.get(connection, wanted))
        if old is None:
            raise ApiError(404, f"no silence {spec.id}")
        silence = await silence_actions.replace(
            request.app, old, spec, starts_at, ends_at, now, actor=actor
        )
    else:
        silence = await silence_actions.create(
            request.app, spec, starts_at, ends_at, now, actor=actor
        )
    return web.json_response({"silenceID": silence.id})


async def get_silence(request: web.Request) -> web.Response:
    """``GET /api/v2/silence/{id}``."""
    require_admin(request)
    wanted = silence_id(request)
    silence = await request.app[RUNNER].read(lambda connection: silences.get(connection, wanted))
    if silence is None:
        raise ApiError(404, f"no silence {wanted}")
    now = request.app[CLOCK]()
    return web.json_response(text=view(silence, now).model_dump_json(by_alias=True))


async def delete_silence(request: web.Request) -> web.Response:
    """``DELETE /api/v2/silence/{id}``: expire it now (what it held back is notified)."""
    actor = require_admin(request)
    now = request.app[CLOCK]()
    if await silence_actions.expire(request.app, silence_id(request), now, actor=actor):
        return web.Response(status=200)
    raise ApiError(404, f"no silence {request.match_info['id']}")


async def status(request: web.Request) -> web.Response:
    """``GET /api/v2/status``: enough of Alertmanager's for clients that probe it."""
    require_admin(request)
    return web.json_response(
        {
            "cluster": {"status": "disabled", "peers": []},
            "versionInfo": {
                # amtool compares versions: answer as the Alertmanager API this one follows
                "version": "0.25.0",
                "revision": f"lumen-bridge-{__version__}",
                "branch": "lumen-bridge",
                "buildUser": "lumen-bridge",
                "buildDate": "",
                "goVersion": "none (lumen-bridge, Python)",
            },
            "config": {"original": ""},
            "uptime": _STARTED.isoformat().replace("+00:00", "Z"),
        }
    )


def _alerts(rows: Sequence[Any], active: list[SilenceRecord]) -> list[dict[str, Any]]:
    """The firing incidents as Alertmanager alerts: one per identity, with every receiver."""
    held = [(s.id, m) for s in active if (m := usable_matchers(s.matchers))]
    by_identity: dict[str, dict[str, Any]] = {}
    for row in rows:
        alert = by_identity.get(row.identity)
        if alert is not None:
            alert["receivers"].append({"name": row.receiver})
            continue
        silenced_by = [sid for sid, matchers in held if matches_all(matchers, row.labels)]
        by_identity[row.identity] = {
            "labels": row.labels,
            "annotations": row.annotations,
            "startsAt": row.starts_at.isoformat(),
            "endsAt": (row.ends_at or row.last_seen).isoformat(),
            "updatedAt": row.last_seen.isoformat(),
            "generatorURL": row.generator_url,
            "fingerprint": row.identity,
            "receivers": [{"name": row.receiver}],
            "status": {
                "state": "suppressed" if silenced_by else "active",
                "silencedBy": silenced_by,
                "inhibitedBy": [],
            },
        }
    return list(by_identity.values())


async def list_alerts(request: web.Request) -> web.Response:
    """``GET /api/v2/alerts``: the firing incidents; ``filter``, ``active`` and ``silenced``
    as in Alertmanager."""
    require_admin(request)
    filters = _filters(request)
    now = request.app[CLOCK]()

    def read(connection: Connection) -> list[dict[str, Any]]:
        holding = silences.holding(connection, now)
        return _alerts(read_models.firing_incidents(connection), holding)

    wanted = {"active": _boolean(request, "active"), "suppressed": _boolean(request, "silenced")}
    alerts = await request.app[RUNNER].read(read)
    body = [
        alert
        for alert in alerts
        if wanted[alert["status"]["state"]] and matches_all(filters, alert["labels"])
    ]
    return web.json_response(body)
