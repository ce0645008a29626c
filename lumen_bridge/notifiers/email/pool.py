"""Pooled SMTP sessions for one relay: TLS and AUTH once per session, not once per page.

At most ``size`` sessions are open at once (:attr:`SmtpPool.slots`: a page holds one while
it is built and sent, so memory stays bounded in a storm), each used for ``max_messages``
pages and idle at most ``max_idle`` seconds (relays drop idle sessions). A pooled session
found dead before DATA (dropped while idle, or a 421 reply) is replaced at once; after any
other failure a session is dropped, not pooled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from email.message import Message
from typing import Any

import aiosmtplib

from lumen_bridge.config import SmtpConfig

__all__ = ["SmtpPool"]

POOL_SIZE = 4  # SMTP sessions open at once per receiver
POOL_MESSAGES = 100  # pages per session, then a new one
POOL_IDLE = 30.0  # seconds a session may idle in the pool (relays drop idle sessions)
SERVICE_CLOSING = 421  # the relay is closing the session


class SmtpPool:
    """Sessions to one relay, reused while fit."""

    def __init__(
        self,
        smtp: SmtpConfig,
        *,
        size: int = POOL_SIZE,
        max_messages: int = POOL_MESSAGES,
        max_idle: float = POOL_IDLE,
    ) -> None:
        self.smtp = smtp
        self.tls_context = (
            ssl.create_default_context(cafile=smtp.ca_file) if smtp.tls_mode != "none" else None
        )
        self.local_hostname = socket.getfqdn()
        self.max_messages = max_messages
        self.max_idle = max_idle
        self.slots = asyncio.Semaphore(size)
        """Taken by a page while it has a session (see the module docstring)."""
        self._idle: list[_Session] = []  # the most recently used last

    async def send(self, message: Message, sender: str, recipients: list[str]) -> None:
        """Send ``message`` on a pooled session, or on a new one when none is fit or the
        pooled one turns out dead; raise what the relay or the network raised."""
        client = await self._checkout()
        if client is not None:
            try:
                await self._transmit(client, message, sender, recipients)
                return
            except (aiosmtplib.SMTPException, OSError) as exc:
                if not _dead_session(client, exc):
                    raise
        client = await self._connect()
        await self._transmit(client, message, sender, recipients)

    async def close(self) -> None:
        """QUIT the idle sessions; call it once sends are over (a later send connects again)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(client) for client in idle))

    async def _checkout(self) -> _Session | None:
        """The most recently used idle session still fit for a page; QUIT the worn and stale."""
        now = time.monotonic()
        fit: list[_Session] = []
        spent: list[_Session] = []
        for client in self._idle:
            fresh = now - client.idle_since <= self.max_idle
            usable = client.is_connected and fresh and client.sent < self.max_messages
            (fit if usable else spent).append(client)
        self._idle = fit[:-1]
        await asyncio.gather(*(_quit(client) for client in spent))
        return fit[-1] if fit else None

    async def _connect(self) -> _Session:
        """A new session: connect, EHLO, STARTTLS or TLS, AUTH, as configured."""
        smtp = self.smtp
        client = _Session(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.user,
            password=smtp.password.get_secret_value() if smtp.password else None,
            use_tls=smtp.tls_mode == "tls",
            start_tls=smtp.tls_mode == "starttls",
            tls_context=self.tls_context,
            timeout=smtp.timeout.total_seconds(),
            local_hostname=self.local_hostname,
        )
        await client.connect()
        return client

    async def _transmit(
        self, client: _Session, message: Message, sender: str, recipients: list[str]
    ) -> None:
        """Send ``message`` on ``client``, then pool it; after any failure, drop it instead."""
        client.in_data = False
        try:
            await client.send_message(message, sender=sender, recipients=recipients)
        except Exception:
            await _quit(client)
            raise
        except BaseException:  # cancelled: no time for a QUIT
            client.close()
            raise
        client.sent += 1
        client.idle_since = time.monotonic()
        self._idle.append(client)


class _Session(aiosmtplib.SMTP):
    """A pooled SMTP client that counts its pages and notes when a page reached DATA."""

    sent = 0  # pages accepted on this session
    idle_since = 0.0  # time.monotonic() when it last went back to the pool
    in_data = False  # the current page reached DATA: a lost session may have delivered it

    async def data(self, *args: Any, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        """DATA, noted first."""
        self.in_data = True
        return await super().data(*args, **kwargs)


def _dead_session(client: _Session, exc: Exception) -> bool:
    """Whether a reused session failed as a dropped one does: lost, or 421, before DATA."""
    if client.in_data:
        return False
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == SERVICE_CLOSING
    return isinstance(exc, ConnectionError)


async def _quit(client: aiosmtplib.SMTP) -> None:
    """QUIT if the session still stands, ignoring errors; the socket is closed either way."""
    try:
        if client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
    finally:
        client.close()
