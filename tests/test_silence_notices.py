"""A silence's reminder before it ends and its digest when it ends: by e-mail through a real
SMTP server (aiosmtpd), once each — also with two replicas — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from lumen_bridge.api.keys import REPLAYER
from lumen_bridge.app import SILENCE_NOTICES
from lumen_bridge.config import EmailReceiver
from lumen_bridge.lifecycle import QueuedNotices, notice_receiver, silence_notices
from lumen_bridge.store.models import Notification, Silence
from tests.conftest import AppFactory, FakeClock, make_settings, payload, post
from tests.helpers import rows
from tests.servers import SmtpSink, eventually
from tests.test_silence_api import add_silence, matcher

CONSOLE = "https://lumen.example.com"
ONCALL = ["oncall@example.com"]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


async def bridge(make_client: AppFactory, smtp: SmtpSink) -> TestClient[Any, Any]:
    """A bridge that delivers to ``smtp``; tickets go to a closed port."""
    return await make_client(
        deliver=True,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        LUMEN_TICKET_URL="http://127.0.0.1:9/tickets",
        LUMEN_EXTERNAL_URL=CONSOLE,
    )


async def notify(client: TestClient[Any, Any], clock: FakeClock) -> QueuedNotices:
    return await client.app[SILENCE_NOTICES].notify_once(clock.now)


def notices(smtp: SmtpSink, tag: str) -> list[Any]:
    """The messages whose subject starts with ``[`` and ``tag``."""
    return [m for m in smtp.messages if str(m.message["Subject"]).startswith(f"[{tag}")]


def text(mail: Any) -> str:
    body: str = mail.message.get_body(("plain",)).get_content()
    return body


async def notice_rows(client: TestClient[Any, Any]) -> list[str]:
    """The status of every notice in the outbox, oldest first."""
    found = await rows(
        client,
        select(Notification.status)
        .where(Notification.action == "notice")
        .order_by(Notification.id),
    )
    return [status for (status,) in found]


async def delivered(client: TestClient[Any, Any], count: int) -> None:
    """Wait until the outbox holds ``count`` notices, all delivered."""
    await eventually(lambda: _all_delivered(client, count))


async def _all_delivered(client: TestClient[Any, Any], count: int) -> bool:
    return await notice_rows(client) == ["delivered"] * count


async def test_one_reminder_to_the_author_15_minutes_before_the_end(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await bridge(make_client, smtp)
    silence = await add_silence(client, createdBy="kim@example.com", comment="disk swap")
    assert (await post(client, payload()))["suppressed"] == 1
    clock.advance(minutes=44, seconds=59)
    assert await notify(client, clock) == QueuedNotices()  # not yet
    clock.advance(seconds=1)  # 15 min before the end
    assert await notify(client, clock) == QueuedNotices(reminders=1)
    assert await notify(client, clock) == QueuedNotices()
    await delivered(client, 1)  # before the clock jumps past its lease
    clock.advance(minutes=5)
    assert await notify(client, clock) == QueuedNotices()
    [mail] = notices(smtp, "SILENCE ENDING")
    assert mail.rcpt_tos == ["kim@example.com"]
    assert mail.message["To"] == "kim@example.com"
    assert "1 incident will page at 2026-11-26 13:00:00 UTC" in mail.message["Subject"]
    body = text(mail)
    assert silence["id"] in body
    assert 'Matchers: alertname="LumenIntegrityMismatch"' in body
    assert "Comment:  disk swap" in body
    assert "Author:   kim@example.com" in body
    assert "- LumenIntegrityMismatch [page] instance=remote-a, n=0 (incident 1, oncall)" in body
    assert f"{CONSOLE}/ui/incidents/1" in body
    assert f"lumen-bridge silence extend {silence['id']} --by 1h" in body
    assert f"{CONSOLE}/ui/silences" in body
    assert len(smtp.messages) == 1  # and no page: the alert is still held


async def test_reminder_goes_to_on_call_when_the_author_is_no_address(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await bridge(make_client, smtp)
    await add_silence(client, createdBy="kim")
    await post(client, payload())
    clock.advance(minutes=50)
    assert await notify(client, clock) == QueuedNotices(reminders=1)
    await delivered(client, 1)
    [mail] = notices(smtp, "SILENCE ENDING")
    assert mail.rcpt_tos == ONCALL
    assert "Author:   kim" in text(mail)


async def test_no_reminder_when_nothing_it_holds_still_fires(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await bridge(make_client, smtp)
    await add_silence(client, createdBy="kim@example.com")
    longer = {"instance": "longer"}  # another silence holds it after the first one ends
    await add_silence(client, duration="3h", matchers=[matcher("instance", "longer")])
    await post(client, payload(fingerprint="longer", labels=longer))
    await post(client, payload(fingerprint="gone", labels={"instance": "b"}))
    await post(client, payload("resolved", fingerprint="gone", labels={"instance": "b"}))
    clock.advance(minutes=50)
    assert await notify(client, clock) == QueuedNotices()
    assert await notice_rows(client) == []
    # one that fires later in the window still gets the reminder
    await post(client, payload(fingerprint="late", labels={"instance": "c"}))
    assert await notify(client, clock) == QueuedNotices(reminders=1)
    await delivered(client, 1)
    [mail] = notices(smtp, "SILENCE ENDING")
    assert "instance=c" in text(mail)
    assert "instance=longer" not in text(mail) and "instance=b" not in text(mail)


async def test_one_digest_at_the_end_lists_still_firing_and_resolved(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await bridge(make_client, smtp)
    silence = await add_silence(client, createdBy="kim@example.com")
    await post(client, payload(fingerprint="still", labels={"instance": "still"}))
    await post(client, payload(fingerprint="gone", labels={"instance": "gone"}))
    clock.advance(minutes=10)
    await post(client, payload("resolved", fingerprint="gone", labels={"instance": "gone"}))
    clock.advance(minutes=50)  # the end
    await client.app[REPLAYER].replay_expired(clock.now)
    results = [await notify(client, clock) for _ in range(2)]
    assert results == [QueuedNotices(digests=1), QueuedNotices()]
    await delivered(client, 1)
    [mail] = notices(smtp, "SILENCE ENDED")
    assert mail.rcpt_tos == ["kim@example.com"]
    assert mail.message["Subject"].startswith("[SILENCE ENDED] held 2: 1 still firing, 1 resolved")
    body = text(mail)
    assert silence["id"] in body
    still, _, resolved = body.partition("Resolved meanwhile (1):")
    assert "Still firing (1):" in still and "instance=still" in still
    assert "instance=gone" in resolved and "instance=gone" not in still
    # the replay paged the one still firing, as without the digest
    await eventually(lambda: len(notices(smtp, "FIRING:1")) == 1)
    assert len(smtp.messages) == 2  # the digest and the page; the reminder's time was skipped


async def test_no_digest_for_a_silence_that_held_nothing_or_ended_long_ago(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await bridge(make_client, smtp)
    nothing = await add_silence(client, duration="2h30m", matchers=[matcher("alertname", "Nope")])
    old = await add_silence(client, duration="1h")
    await post(client, payload())
    clock.advance(hours=3)  # both ended, the second more than an hour ago (as at an upgrade)
    assert await notify(client, clock) == QueuedNotices()
    assert await notice_rows(client) == []
    digested = dict(await rows(client, select(Silence.id, Silence.digested_at)))
    assert digested == {nothing["id"]: clock.now, old["id"]: None}  # looked at; skipped


async def test_the_flag_reminds_of_everything_it_holds(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    client = await bridge(make_client, smtp)
    await add_silence(client, matchers=[])
    await post(client, payload(labels={"severity": "ticket"}))
    clock.advance(minutes=46)
    assert await notify(client, clock) == QueuedNotices(reminders=1)
    await delivered(client, 1)
    [mail] = notices(smtp, "SILENCE ENDING")
    assert "Matchers: (none: the suppression flag, every alert)" in text(mail)
    assert "(incident 1, backlog)" in text(mail)


async def test_two_replicas_send_one_reminder_and_one_digest(
    make_client: AppFactory, smtp: SmtpSink, clock: FakeClock
) -> None:
    one = await bridge(make_client, smtp)
    two = await bridge(make_client, smtp)
    await add_silence(one, createdBy="kim@example.com")
    await post(two, payload(n=3))
    clock.advance(minutes=45)
    reminded = await asyncio.gather(*(notify(replica, clock) for replica in (one, two) * 4))
    assert sum(r.reminders for r in reminded) == 1
    await delivered(one, 1)  # before the clock jumps past its lease
    clock.advance(minutes=15)
    digested = await asyncio.gather(*(notify(replica, clock) for replica in (one, two) * 4))
    assert sum(d.digests for d in digested) == 1
    await delivered(two, 2)
    assert len(notices(smtp, "SILENCE ENDING")) == 1
    assert len(notices(smtp, "SILENCE ENDED")) == 1
    assert (
        "held 3: 3 still firing, 0 resolved" in notices(smtp, "SILENCE ENDED")[0].message["Subject"]
    )


def test_notices_need_an_email_receiver(db_url: str) -> None:
    settings = make_settings(db_url)
    assert notice_receiver(settings) == settings.receiver("oncall")
    chosen = settings.model_copy(
        update={"silences": settings.silences.model_copy(update={"notify": "backlog"})}
    )
    assert notice_receiver(chosen) is None  # a ticket receiver sends no e-mail
    others = [r for r in settings.receivers if not isinstance(r, EmailReceiver)]
    assert notice_receiver(settings.model_copy(update={"receivers": others})) is None


async def test_the_loop_outlives_database_errors_and_stops_at_once(
    make_client: AppFactory, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifier = (await bridge(make_client, smtp)).app[SILENCE_NOTICES]
    failures = 0

    async def database_away(now: datetime) -> QueuedNotices:
        nonlocal failures
        failures += 1
        raise OperationalError("UPDATE silences", {}, Exception("the database is away"))

    monkeypatch.setattr(notifier, "notify_once", database_away)
    monkeypatch.setattr(silence_notices, "RETRY_AFTER_ERROR", timedelta(milliseconds=10))
    task = asyncio.create_task(notifier.run())
    await eventually(lambda: failures >= 3)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 1)
