"""Creating, updating, extending and expiring a silence: what every silence API does the
same way.

``/silence`` and Alertmanager's ``/api/v2/silences`` share one store and one semantics:
these functions write the silence and its audit entry in one transaction (``actor`` is who
acts: the admin token's name, docs/audit.md), log it, and wake the replayer, which notifies
what a silence held back once it ends (:mod:`lumen_bridge.pipeline.replay`). A silence
without matchers is the suppression flag: its audit entries say ``flag.raise`` and
``flag.lower``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge.api.errors import ApiError
from lumen_bridge.api.keys import REPLAYER, RUNNER, SETTINGS
from lumen_bridge.api.schedule_schemas import NextWindow, ScheduleSpec, duration_text
from lumen_bridge.api.silence_schemas import (
    GettableSilence,
    PostableSilence,
    SilenceMatcher,
    SilenceStatus,
    describe,
)
from lumen_bridge.domain.audit import AuditAction
from lumen_bridge.domain.schedule import Schedule, occurrence
from lumen_bridge.domain.silences import check_extension, state_at
from lumen_bridge.store import audit, silences
from lumen_bridge.store.silences import SilenceRecord

__all__ = ["create", "expire", "extend", "replace", "silence_id", "view"]

log = structlog.get_logger("lumen_bridge.silences")


def view(silence: SilenceRecord, now: datetime) -> GettableSilence:
    """``silence`` as the APIs return it, with its state at ``now`` (built from the stored
    row as it is, not checked again: see :func:`_stored`)."""
    schedule = None if silence.schedule is None else Schedule.from_json(silence.schedule)
    window = (
        None if schedule is None else occurrence(schedule, silence.starts_at, silence.ends_at, now)
    )
    grace = silence.resolve_grace_s
    return GettableSilence.model_construct(
        id=silence.id,
        status=SilenceStatus(state=state_at(silence.starts_at, silence.ends_at, now).value),
        matchers=[_stored(m) for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        updated_at=silence.updated_at,
        created_by=silence.created_by,
        comment=silence.comment,
        until_resolved=None if grace is None else True,
        grace=None if grace is None else duration_text(grace),
        schedule=None if schedule is None else ScheduleSpec.of(schedule),
        next_window=None if window is None else NextWindow(starts_at=window[0], ends_at=window[1]),
    )


def _stored(matcher: dict[str, Any]) -> SilenceMatcher:
    """A stored matcher as the APIs show it, not checked again: one that an earlier version
    stored with a pattern this one refuses stays readable, and can be expired."""
    return SilenceMatcher.model_construct(
        name=matcher["name"],
        value=matcher["value"],
        is_regex=bool(matcher.get("isRegex", False)),
        is_equal=bool(matcher.get("isEqual", True)),
    )


def silence_id(request: web.Request) -> str:
    """The ``{id}`` of the path in its canonical form (404 when it cannot be an id)."""
    raw = request.match_info["id"]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(404, f"no silence {raw}") from None


def _described(silence: SilenceRecord) -> str:
    """The matchers in amtool's syntax (as stored, for one this version cannot compile)."""
    try:
        return describe([SilenceMatcher.model_validate(m) for m in silence.matchers])
    except ValidationError:
        return json.dumps(silence.matchers)


def _logged(event: str, silence: SilenceRecord, actor: str) -> None:
    log.info(
        event,
        silence_id=silence.id,
        actor=actor,
        created_by=silence.created_by,
        matchers=_described(silence),
        starts_at=silence.starts_at.isoformat(),
        ends_at=silence.ends_at.isoformat(),
    )


def _audited(
    connection: Connection, silence: SilenceRecord, action: AuditAction, actor: str, now: datetime
) -> None:
    """Record ``actor``'s ``action`` on ``silence`` (the flag's own actions for a silence
    without matchers)."""
    flag = {AuditAction.SILENCE_CREATE: AuditAction.FLAG_RAISE}
    flag[AuditAction.SILENCE_EXPIRE] = AuditAction.FLAG_LOWER
    if not silence.matchers:
        action = flag.get(action, action)
    audit.record(
        connection,
        at=now,
        actor=actor,
        action=action,
        target=silence.id,
        detail={
            "matchers": _described(silence),
            "starts_at": silence.starts_at.isoformat(),
            "ends_at": silence.ends_at.isoformat(),
            "created_by": silence.created_by,
            "comment": silence.comment,
        },
    )


async def create(
    app: web.Application,
    spec: PostableSilence,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    *,
    actor: str,
) -> SilenceRecord:
    """Store a new silence from ``spec``, in force from ``starts_at`` until ``ends_at``."""

    def work(connection: Connection) -> SilenceRecord:
        silence = silences.add(
            connection,
            matchers=[m.model_dump(by_alias=True) for m in spec.matchers],
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=spec.created_by,
            comment=spec.comment,
            now=now,
            resolve_grace_s=spec.grace_after(app[SETTINGS].silences.until_resolved_grace),
            schedule=None if spec.schedule is None else spec.schedule.schedule().to_json(),
        )
        _audited(connection, silence, AuditAction.SILENCE_CREATE, actor, now)
        return silence

    silence = await app[RUNNER].write(work)
    _logged("silence created", silence, actor)
    app[REPLAYER].wake()
    return silence


async def expire(
    app: web.Application, silence_id: str, now: datetime, *, actor: str
) -> SilenceRecord | None:
    """End a silence now, then notify what it held back (None when there is no such silence)."""

    def work(connection: Connection) -> SilenceRecord | None:
        before = silences.get(connection, silence_id)
        silence = silences.expire(connection, silence_id, now)
        if silence is not None and silence != before:
            _audited(connection, silence, AuditAction.SILENCE_EXPIRE, actor, now)
        return silence

    silence = await app[RUNNER].write(work)
    if silence is None:
        return None
    _logged("silence expired", silence, actor)
    replayer = app[REPLAYER]
    try:
        await replayer.replay_expired(now)
    except SQLAlchemyError as exc:  # the silence has ended; the watcher replays it later
        log.warning("replay after expiry failed; the watcher retries", error=type(exc).__name__)
        replayer.wake()
    return silence


async def replace(
    app: web.Application,
    old: SilenceRecord,
    spec: PostableSilence,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    *,
    actor: str,
) -> SilenceRecord:
    """Alertmanager's update: the same matchers on a silence still in force change it in
    place (its times, comment and author); otherwise the old one expires and a new one is
    made."""
    same = [m.model_dump(by_alias=True) for m in spec.matchers] == old.matchers
    if same and old.ends_at > now:

        def work(connection: Connection) -> SilenceRecord:
            silence = silences.change(
                connection,
                old.id,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=spec.created_by,
                comment=spec.comment,
                now=now,
            )
            _audited(connection, silence, AuditAction.SILENCE_UPDATE, actor, now)
            return silence

        silence = await app[RUNNER].write(work)
        _logged("silence updated", silence, actor)
        app[REPLAYER].wake()
        return silence
    await expire(app, old.id, now, actor=actor)
    return await create(app, spec, starts_at, ends_at, now, actor=actor)


async def extend(
    app: web.Application, silence_id: str, ends_at: datetime, now: datetime, *, actor: str
) -> SilenceRecord | None:
    """Move the end of a silence in force to ``ends_at`` (None when there is no such
    silence); raises ``SilenceEnded`` when it is over and ``ValueError`` for an end that is
    not later, or past an until-resolved silence's maximum (now + until_resolved_max)."""
    longest = app[SETTINGS].silences.until_resolved_max

    def work(connection: Connection) -> SilenceRecord | None:
        old = silences.get(connection, silence_id, lock=True)
        if old is None:
            return None
        latest = None if old.resolve_grace_s is None else now + longest
        check_extension(old.ends_at, ends_at, now, latest)
        silences.extend(connection, silence_id, ends_at, now)
        silence = silences.get(connection, silence_id)
        assert silence is not None
        _audited(connection, silence, AuditAction.SILENCE_EXTEND, actor, now)
        return silence

    silence = await app[RUNNER].write(work)
    if silence is not None:
        _logged("silence extended", silence, actor)
        app[REPLAYER].wake()
    return silence
