"""A silence's reminder before it ends and its digest when it ends, by e-mail, once each
(docs/silences.md, "Reminders and digests").

A pass (:meth:`SilenceNotices.notify_once`, which tests call with their clock) runs in one
write transaction: it claims each silence due for a notice and queues the notice's outbox
row with the claim (:mod:`lumen_bridge.store.notices`), so two replicas send one. The
delivery worker sends it with the e-mail receiver's SMTP settings
(:mod:`lumen_bridge.notifiers.email.notice`). :meth:`SilenceNotices.run` wakes at the next
reminder or end, and at least every minute.

- **Reminder**: ``silences.remind_before`` (15 min) before its end, for a silence in force
  that holds back firing incidents which nothing else (another silence in force then, the
  flag) will hold when it ends: what will page then. Not claimed while there is none, so a
  hold that comes later in the window still gets one.
- **Digest**: when it ends (or is expired), if it was in force over some incident: those
  still firing (the replay notifies the ones it held back) and those resolved meanwhile.
  Claimed either way. Silences that ended more than :data:`LATE_LIMIT` ago get none, so a
  bridge that starts on old silences (an upgrade) sends no flood.

The suppression flag (a silence without matchers) gets both: it holds every alert.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection

from lumen_bridge.clock import Clock, seconds_until
from lumen_bridge.config import EmailReceiver, Settings
from lumen_bridge.config.fields import Recipient
from lumen_bridge.domain.suppression import Suppression
from lumen_bridge.lifecycle import notice_text
from lumen_bridge.metrics import Metrics
from lumen_bridge.store import notices, silences
from lumen_bridge.store.notices import NoticeKind, SeenIncident
from lumen_bridge.store.runner import Runner
from lumen_bridge.store.silences import SilenceRecord

__all__ = ["LATE_LIMIT", "QueuedNotices", "SilenceNotices", "notice_receiver"]

log = structlog.get_logger("lumen_bridge.silence_notices")

SAFETY_INTERVAL = timedelta(minutes=1)
"""A pass runs at least this often, even when no reminder or end is near."""
RETRY_AFTER_ERROR = timedelta(seconds=5)
LATE_LIMIT = timedelta(hours=1)
"""A silence that ended longer ago than this gets no digest."""

_ADDRESS: TypeAdapter[str] = TypeAdapter(Recipient)


def notice_receiver(settings: Settings) -> EmailReceiver | None:
    """The e-mail receiver whose SMTP relay sends the notices, and whose recipients get those
    of silences whose author is not an address: ``silences.notify``, or the first one."""
    emails = [r for r in settings.receivers if isinstance(r, EmailReceiver)]
    name = settings.silences.notify
    return next((r for r in emails if name is None or r.name == name), None)


def _recipients(silence: SilenceRecord, receiver: EmailReceiver) -> list[str]:
    """The author when ``createdBy`` is a bare address, else the receiver's recipients."""
    try:
        return [_ADDRESS.validate_python(silence.created_by.strip())]
    except ValidationError:
        return list(receiver.to)


def _held_by(silence: SilenceRecord, incidents: Sequence[SeenIncident]) -> list[SeenIncident]:
    """The incidents ``silence`` matches (all of them for the flag; none when a matcher is a
    pattern this version refuses: such a silence holds nothing back)."""
    holds = Suppression.of(False, [silence.matchers])
    return [i for i in incidents if holds.reason(i.labels) is not None]


@dataclass(frozen=True, slots=True)
class QueuedNotices:
    """What one pass queued."""

    reminders: int = 0
    digests: int = 0


class SilenceNotices:
    """Queues each silence's reminder and digest, once across replicas."""

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        clock: Clock,
        metrics: Metrics,
        *,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.runner = runner
        self.clock = clock
        self.metrics = metrics
        self.on_queued = on_queued
        """Called when a pass queued notices (to wake the delivery worker)."""
        self.receiver = notice_receiver(settings)
        self.remind_before = settings.silences.remind_before
        self.flag = settings.suppression.flag
        self.external_url = settings.server.external_url
        for kind in NoticeKind:  # every series from the start, at 0
            metrics.silence_notices.labels(kind)

    async def notify_once(self, now: datetime) -> QueuedNotices:
        """Queue every reminder and digest due at ``now``; return how many."""
        if self.receiver is None:
            return QueuedNotices()
        receiver = self.receiver
        queued = await self.runner.write(
            lambda connection: [
                *self._reminders(connection, receiver, now),
                *self._digests(connection, receiver, now),
            ]
        )
        if not queued:
            return QueuedNotices()
        log.info("silence notices queued", notices=[f"{kind} {id_}" for kind, id_ in queued])
        for kind, _ in queued:
            self.metrics.silence_notices.labels(kind).inc()
        if self.on_queued is not None:
            self.on_queued()
        kinds = [kind for kind, _ in queued]
        return QueuedNotices(kinds.count(NoticeKind.REMINDER), kinds.count(NoticeKind.DIGEST))

    def _reminders(
        self, connection: Connection, receiver: EmailReceiver, now: datetime
    ) -> list[tuple[NoticeKind, str]]:
        """Queue the reminders due at ``now``; return them, with their silence's id."""
        due = notices.reminders_due(connection, now, self.remind_before)
        if not due:
            return []
        held = notices.held_firing(connection)
        queued = []
        for silence in due:
            after = Suppression.of(self.flag, silences.active_matchers(connection, silence.ends_at))
            paging = [i for i in _held_by(silence, held) if after.reason(i.labels) is None]
            if not paging or not notices.claim(connection, silence, NoticeKind.REMINDER, now):
                continue
            notice = notice_text.reminder(
                silence, paging, _recipients(silence, receiver), self.external_url
            )
            if notices.enqueue(
                connection, receiver.name, silence, NoticeKind.REMINDER, notice, now
            ):
                queued.append((NoticeKind.REMINDER, silence.id))
        return queued

    def _digests(
        self, connection: Connection, receiver: EmailReceiver, now: datetime
    ) -> list[tuple[NoticeKind, str]]:
        """Queue the digests due at ``now``; return them, with their silence's id."""
        due = notices.digests_due(connection, now, now - LATE_LIMIT)
        if not due:
            return []
        still = Suppression.of(self.flag, silences.active_matchers(connection, now))
        queued = []
        for silence in due:
            if not notices.claim(connection, silence, NoticeKind.DIGEST, now):
                continue
            held = _held_by(
                silence, notices.in_force(connection, silence.starts_at, silence.ends_at)
            )
            if not held:
                continue  # it held nothing: nothing to tell
            notice = notice_text.digest(
                silence,
                held,
                lambda i: still.reason(i.labels) is not None,
                _recipients(silence, receiver),
                self.external_url,
            )
            if notices.enqueue(connection, receiver.name, silence, NoticeKind.DIGEST, notice, now):
                queued.append((NoticeKind.DIGEST, silence.id))
        return queued

    async def _next_wait(self) -> float:
        now = self.clock()
        due = await self.runner.read(
            lambda connection: notices.next_due(connection, now, self.remind_before)
        )
        return seconds_until(due, now, SAFETY_INTERVAL)

    async def run(self) -> None:
        """Pass at start, then at each reminder or end (and every minute), until cancelled;
        a failed pass is logged and tried again."""
        if self.receiver is None:
            log.warning(
                "no e-mail receiver for silence reminders and digests (silences.notify, or "
                "the first e-mail receiver): none are sent"
            )
            return
        while True:
            try:
                await self.notify_once(self.clock())
                wait = await self._next_wait()
            except Exception:  # the database may be away for a while; keep going
                log.warning("silence notices failed; retrying", exc_info=True)
                wait = RETRY_AFTER_ERROR.total_seconds()
            await asyncio.sleep(wait)
