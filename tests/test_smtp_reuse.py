"""The e-mail notifier's SMTP session pool, against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lumen_bridge.config import EmailReceiver, RunbookConfig
from lumen_bridge.domain.notification import Delivery
from lumen_bridge.notifiers import Result, Verdict
from lumen_bridge.notifiers.email import EmailNotifier
from tests.conftest import FakeClock
from tests.servers import SMTP_PASS, SMTP_USER, SmtpSink, self_signed_cert

Notifiers = Callable[..., EmailNotifier]


@dataclass
class CountingSink(SmtpSink):
    """An SMTP sink that counts sessions and QUITs, and can misbehave on request."""

    connections: int = 0  # TCP sessions that said EHLO (STARTTLS's second EHLO not counted)
    quits: int = 0
    in_session: int = 0  # sessions open now (between their EHLO and their end)
    most_in_session: int = 0
    on_reuse: str | None = None  # "drop" or "421": how MAIL is met on a session used before
    drop_after_data: bool = False  # keep the next message, then drop the session unanswered
    refuse: str | None = None  # the reply to every RCPT, e.g. "550 5.1.1 no such user"
    delay: float = 0.0  # seconds DATA takes
    _sessions: dict[int, Any] = field(default_factory=dict)  # keeps the ids unique

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if id(server) not in self._sessions:
            self._sessions[id(server)] = server
            server.delivered = 0
            self.connections += 1
            self.in_session += 1
            self.most_in_session = max(self.most_in_session, self.in_session)
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if server.delivered and self.on_reuse == "drop":
            self._end(server)
            server.transport.abort()
            return "250 OK"  # never reaches the client
        if server.delivered and self.on_reuse == "421":
            return "421 4.4.2 idle session closed"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        status = await super().handle_DATA(server, session, envelope)
        server.delivered += 1
        if self.drop_after_data:
            self.drop_after_data = False
            self._end(server)
            server.transport.abort()
        return status

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        self._end(server)
        return "221 Bye"

    def _end(self, server: Any) -> None:
        if not getattr(server, "ended", False):
            server.ended = True
            self.in_session -= 1


def page(n: int = 1) -> Delivery:
    """A one-alert firing page, the ``n``-th of its test."""
    alert = {
        "alertname": "LumenStageFailed",
        "status": "firing",
        "action": "open",
        "labels": {"alertname": "LumenStageFailed", "n": str(n)},
        "annotations": {"summary": f"page {n}"},
        "starts_at": "2026-11-26T11:53:38+00:00",
        "ends_at": None,
        "occurrences": 1,
        "incident_id": n,
        "dedup_key": f"lumen-{n}",
        "alertmanager_url": "http://vm:9093",
        "generator_url": "http://127.0.0.1:9090/graph",
    }
    created = datetime(2026, 11, 26, 12, 0, n % 60, tzinfo=UTC)
    return Delivery(n, "oncall", "open", f"lumen-{n}-open-1", created, 1, [alert])


def receiver(sink: SmtpSink, **smtp: Any) -> EmailReceiver:
    return EmailReceiver.model_validate(
        {
            "name": "oncall",
            "type": "email",
            "to": "oncall@example.com",
            "from": "lumen@system.local",
            "smtp": {"host": "127.0.0.1", "port": sink.port, **smtp},
        }
    )


@pytest.fixture
async def sink() -> AsyncIterator[CountingSink]:
    server = CountingSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def notifiers() -> AsyncIterator[Notifiers]:
    """Make notifiers (keyword arguments go to the constructor); their sessions end after."""
    made: list[EmailNotifier] = []

    def make(sink: SmtpSink, smtp: dict[str, Any] | None = None, **pool: Any) -> EmailNotifier:
        notifier = EmailNotifier(
            receiver(sink, **(smtp or {})), RunbookConfig(), FakeClock(), **pool
        )
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        await notifier.close()


async def send_all(notifier: EmailNotifier, numbers: range) -> list[Result]:
    return [await notifier.send(page(n)) for n in numbers]


DELIVERED = Result.delivered(250)


async def test_sequential_pages_share_one_session(sink: CountingSink, notifiers: Notifiers) -> None:
    notifier = notifiers(sink)
    assert await send_all(notifier, range(10)) == [DELIVERED] * 10
    assert len(sink.messages) == 10
    assert [m.message["Subject"] for m in sink.messages] == [
        f"[FIRING:1] LumenStageFailed: page {n}" for n in range(10)
    ]
    assert sink.connections == 1
    assert sink.quits == 0
    await notifier.close()
    assert sink.quits == 1
    assert await notifier.send(page(10)) == DELIVERED  # a send after close() connects again
    assert sink.connections == 2


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_and_auth_once_per_session(
    notifiers: Notifiers,
    cert: tuple[Path, Path],
    mode: str,
) -> None:
    sink = CountingSink(cert=cert, implicit_tls=mode == "tls")
    sink.start()
    try:
        smtp = {"user": SMTP_USER, "password": SMTP_PASS, "tls": mode, "ca_file": str(cert[0])}
        notifier = notifiers(sink, smtp)
        assert await send_all(notifier, range(5)) == [DELIVERED] * 5
        assert len(sink.messages) == 5
        assert sink.connections == 1
        assert len(sink.logins) == 1
        await notifier.close()
        assert sink.quits == 1
    finally:
        sink.stop()


@pytest.mark.parametrize("noticed", [False, True])
async def test_session_closed_by_a_restarted_relay_is_replaced(
    sink: CountingSink, notifiers: Notifiers, noticed: bool
) -> None:
    notifier = notifiers(sink)
    assert await notifier.send(page(1)) == DELIVERED
    sink.stop()  # the relay goes away, and its sessions with it
    sink.start()
    if noticed:  # the client reads the EOF while idle; otherwise at MAIL FROM
        await asyncio.sleep(0.1)
    assert await notifier.send(page(2)) == DELIVERED
    assert [m.message["Subject"] for m in sink.messages] == [
        "[FIRING:1] LumenStageFailed: page 1",
        "[FIRING:1] LumenStageFailed: page 2",
    ]
    assert sink.connections == 2


@pytest.mark.parametrize("how", ["drop", "421"])
async def test_dead_session_found_at_mail_is_retried_once_on_a_fresh_one(
    sink: CountingSink, notifiers: Notifiers, how: str
) -> None:
    notifier = notifiers(sink)
    assert await notifier.send(page(1)) == DELIVERED
    sink.on_reuse = how  # the relay dropped the session, and the client learns at MAIL FROM
    assert await notifier.send(page(2)) == DELIVERED
    assert sink.connections == 2
    sink.on_reuse = None
    assert await notifier.send(page(3)) == DELIVERED  # the fresh session went to the pool
    assert [m.message["Subject"] for m in sink.messages] == [
        f"[FIRING:1] LumenStageFailed: page {n}" for n in (1, 2, 3)
    ]
    assert sink.connections == 2


async def test_session_lost_after_data_is_not_sent_again(
    sink: CountingSink, notifiers: Notifiers
) -> None:
    notifier = notifiers(sink)
    assert await notifier.send(page(1)) == DELIVERED
    sink.drop_after_data = True  # the relay keeps page 2, its reply is lost: maybe delivered
    result = await notifier.send(page(2))
    assert result.verdict is Verdict.RETRY
    assert result.error is not None and result.error.startswith("SMTPServerDisconnected: ")
    assert len(sink.messages) == 2  # no second copy behind the worker's back
    assert sink.connections == 1
    assert await notifier.send(page(3)) == DELIVERED
    assert sink.connections == 2


async def test_failure_on_a_fresh_session_counts(sink: CountingSink, notifiers: Notifiers) -> None:
    notifier = notifiers(sink)
    assert await notifier.send(page(1)) == DELIVERED
    sink.stop()  # nothing listens any more: the pooled session is dead, a new one is refused
    result = await notifier.send(page(2))
    assert result.verdict is Verdict.RETRY
    assert result.error is not None and result.error.startswith("SMTPConnectError: ")
    sink.start()
    assert await notifier.send(page(3)) == DELIVERED
    assert sink.connections == 2


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("550 5.1.1 no such user", Verdict.PERMANENT), ("452 4.2.2 mailbox full", Verdict.RETRY)],
)
async def test_refusal_on_a_reused_session_keeps_its_verdict_and_ends_the_session(
    sink: CountingSink, notifiers: Notifiers, reply: str, verdict: Verdict
) -> None:
    notifier = notifiers(sink)
    assert await notifier.send(page(1)) == DELIVERED
    sink.refuse = reply
    result = await notifier.send(page(2))
    code = int(reply[:3])
    assert result.verdict is verdict
    assert result.status_code == code
    assert result.error is not None and result.error.startswith("recipients refused: ")
    assert sink.quits == 1  # not pooled again
    sink.refuse = None
    assert await notifier.send(page(3)) == DELIVERED
    assert len(sink.messages) == 2
    assert sink.connections == 2


async def test_a_session_carries_at_most_max_messages(
    sink: CountingSink, notifiers: Notifiers
) -> None:
    notifier = notifiers(sink, max_messages=3)
    assert await send_all(notifier, range(7)) == [DELIVERED] * 7
    assert sink.connections == 3  # 3 + 3 + 1
    assert sink.quits == 2
    await notifier.close()
    assert sink.quits == 3


async def test_a_session_idle_too_long_is_quit(sink: CountingSink, notifiers: Notifiers) -> None:
    notifier = notifiers(sink, max_idle=0.05)
    assert await notifier.send(page(1)) == DELIVERED
    assert await notifier.send(page(2)) == DELIVERED  # at once: reused
    assert sink.connections == 1
    await asyncio.sleep(0.2)
    assert await notifier.send(page(3)) == DELIVERED
    assert sink.connections == 2
    assert sink.quits == 1


async def test_concurrent_pages_share_at_most_pool_size_sessions(
    sink: CountingSink, notifiers: Notifiers
) -> None:
    notifier = notifiers(sink, pool_size=2)
    sink.delay = 0.05  # every page overlaps the others
    results = await asyncio.gather(*(notifier.send(page(n)) for n in range(12)))
    assert results == [DELIVERED] * 12
    assert len(sink.messages) == 12
    assert sink.connections == 2
    assert sink.most_in_session == 2
