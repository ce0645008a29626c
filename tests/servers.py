"""Real servers the notifiers talk to in tests: SMTP (aiosmtpd) and a ticket system (aiohttp)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import gc
import json
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.procs import free_port

SMTP_USER = "lumen"
SMTP_PASS = "s3cret-pass"


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float = 10.0
) -> None:
    """Poll ``check`` until it holds, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.01)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key, made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Received:
    """One message as the SMTP server got it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    at: float


@dataclass
class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps every message."""

    port: int = field(default_factory=free_port)
    cert: tuple[Path, Path] | None = None  # STARTTLS with this certificate, AUTH required
    implicit_tls: bool = False  # with ``cert``: TLS from the first byte instead of STARTTLS
    messages: list[Received] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)  # the user of every successful AUTH
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.content,
                    parsed,
                    time.perf_counter(),
                )
            )
        return "250 OK"

    def start(self) -> SmtpSink:
        kwargs: dict[str, Any] = {}
        if self.cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.cert)
            kwargs = {"auth_require_tls": True, "authenticator": self._authenticate}
            if self.implicit_tls:  # aiosmtpd counts only STARTTLS as TLS for AUTH
                kwargs |= {"ssl_context": context, "auth_require_tls": False}
            else:
                kwargs |= {"tls_context": context, "require_starttls": True}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASS.encode()
        )
        if ok:
            with self._lock:
                self.logins.append(data.login)
        return AuthResult(success=ok, handled=False)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        # aiosmtpd leaves the server side of a session the client dropped after STARTTLS
        # to the garbage collector: collect it here, where its warning is not ours.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


@dataclass
class TicketRequest:
    """One request the ticket server got."""

    headers: dict[str, str]
    body: Any
    at: float


Behaviour = tuple[int, dict[str, str]] | str  # (status, headers), or "hang"


@dataclass
class TicketServer:
    """A recording ticket system: answers from a script, then 200 for ever."""

    script: list[Behaviour] = field(default_factory=list)
    requests: list[TicketRequest] = field(default_factory=list)
    delay: float = 0.0
    _server: TestServer | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            TicketRequest(dict(request.headers), json.loads(await request.read()), time.monotonic())
        )
        behaviour = self.script.pop(0) if self.script else (200, {})
        if self.delay:
            await asyncio.sleep(self.delay)
        if behaviour == "hang":
            await self._release.wait()
            return web.json_response({"ok": False}, status=504)
        assert isinstance(behaviour, tuple)
        status, headers = behaviour
        return web.json_response({"ok": status < 300}, status=status, headers=headers)

    async def start(self) -> TicketServer:
        app = web.Application()
        app.router.add_post("/api/alerts", self.handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/api/alerts"))

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()
