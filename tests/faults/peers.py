"""The bridge's peers in a fault test: a ticket system that can be told to fail, and a TCP
proxy in front of PostgreSQL that can be killed and started again on the same port.

Both run on the test's event loop; the bridge is another process, so it reaches them only
through their sockets, as it would reach the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.procs import free_port


@dataclass
class Reply:
    """How the ticket system answers one request: a status, headers, after a delay."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Hit:
    """One request the ticket system got, and what it answered (``status`` stays None
    while the request is being handled)."""

    key: str
    action: str
    nth: int  # how many requests with this Idempotency-Key came before this one
    at: float  # time.monotonic() on arrival
    labels: dict[str, str]
    status: int | None = None

    @property
    def processed(self) -> bool:
        """Whether the ticket system handled it with success (whether or not the bridge
        was still there to read the answer)."""
        return self.status is not None and 200 <= self.status < 300


Plan = Callable[[Hit], Reply]


def always_ok(hit: Hit) -> Reply:
    """A healthy ticket system."""
    return Reply()


class Tickets:
    """A recording ticket system on a fixed port; ``plan`` says how to answer each request."""

    def __init__(self) -> None:
        self.port = free_port()
        self.plan: Plan = always_ok
        self.hits: list[Hit] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/alerts"

    async def start(self) -> Tickets:
        app = web.Application()
        app.router.add_post("/api/alerts", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        hit = Hit(key, body["action"], len(self.by_key()[key]), time.monotonic(), body["labels"])
        self.hits.append(hit)
        reply = self.plan(hit)
        if reply.delay:  # the handler goes on when the bridge gives up (a slow system does)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay)
        hit.status = reply.status
        return web.json_response(
            {"ok": reply.status < 300}, status=reply.status, headers=reply.headers
        )

    def by_key(self) -> dict[str, list[Hit]]:
        """Every request, grouped by Idempotency-Key, in arrival order."""
        grouped: dict[str, list[Hit]] = defaultdict(list)
        for hit in self.hits:
            grouped[hit.key].append(hit)
        return grouped

    def in_flight(self) -> list[Hit]:
        """Requests still being handled."""
        return [hit for hit in self.hits if hit.status is None]

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`kill` drops every connection at once
    (both sides see a reset) and refuses new ones until :meth:`start` is called again."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.connections = 0  # accepted since the first start
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def up(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._open.discard(writer)
            writer.transport.abort()

    async def kill(self) -> None:
        """Stop listening and reset every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        if server is not None:
            await server.wait_closed()

    async def close(self) -> None:
        await self.kill()
