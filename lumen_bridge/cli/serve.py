"""``lumen-bridge serve``: the HTTP server, with its database, ingest and delivery.

It binds its address before anything else (a port in use ends it at once, with no database
touched), says where it listens and on which database, and answers at once: while the
database is away or being migrated, ``/healthz`` answers 200 and every other path 503 (so
Alertmanager retries), and once the bridge has started it serves normally.

The server is imported here, when the command runs, so that the pipeline's
``emit-metrics`` and the ``silence`` client start quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import ipaddress
import signal
import socket
import sys
from collections.abc import Awaitable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge import __version__
from lumen_bridge.cli.settings import read_settings, safe_url
from lumen_bridge.config import ConfigError
from lumen_bridge.store.runner import is_sqlite

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["serve"]

BACKLOG = 128


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _freeze_heap(_app: object) -> None:
    """Move what startup made (modules, engine, settings: it lives as long as the process)
    out of the garbage collector's sight, so that a full collection walks only what
    requests create: a full collection stalled every request for 67-94 ms, now for about 2."""
    gc.freeze()


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address of ``host``, as aiohttp would bind them."""
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        ):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _cannot_listen(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is in use; is another lumen-bridge running? "
            "choose another with --port"
        )
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}"


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


def _database(url: str) -> str:
    """The database for the start line: SQLite's file as an absolute path, else the URL
    with its password hidden."""
    if is_sqlite(url):
        return str(Path(make_url(url).database or "").resolve())
    return safe_url(url)


def serve(args: argparse.Namespace) -> int:
    """Serve until stopped; the exit code."""
    settings = read_settings(args, templates=True)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    missing = [
        name
        for name, token in (
            ("LUMEN_ALERT_TOKEN", settings.auth.alert_token),
            ("LUMEN_ADMIN_TOKEN", settings.auth.admins()),
        )
        if not token
    ]
    if missing and not _loopback(host) and not args.insecure:
        print(
            f"lumen-bridge: refusing to listen on {host} without authentication: "
            f"set {' and '.join(missing)} (or pass --insecure to accept the risk)",
            file=sys.stderr,
        )
        return 2
    import structlog

    from lumen_bridge.app import create_app
    from lumen_bridge.logs import configure_logging

    configure_logging(settings.log)
    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"lumen-bridge: cannot start: {exc}", file=sys.stderr)
        return 2
    _quiet_parse_errors()
    # Stopped before the loop runs (it then handles the signals): nothing has started yet.
    signal.signal(signal.SIGTERM, _stopped_early)
    try:
        sockets = _listen(host, port)
    except OSError as exc:
        print(f"lumen-bridge: {_cannot_listen(exc, host, port)}", file=sys.stderr)
        return 1
    structlog.get_logger("lumen_bridge").info(
        "listening",
        address=" ".join(_address(sock) for sock in sockets),
        database=_database(settings.database.url),
        version=__version__,
        auth_off=missing,
    )
    app.on_startup.append(_freeze_heap)  # after the database and delivery have started
    try:
        asyncio.run(_run(app, sockets))
    except (SQLAlchemyError, OSError) as exc:
        print(f"lumen-bridge: cannot start: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        for sock in sockets:
            sock.close()
    return 0


def _quiet_parse_errors() -> None:
    """aiohttp answers a request it cannot parse with a 400 that quotes the raw line, which
    may be ``Authorization: Bearer <token>``; answer it with a plain reason instead (the log
    line is redacted by :mod:`lumen_bridge.logs`)."""
    from aiohttp.web_protocol import RequestHandler

    quoting = RequestHandler.handle_error

    def handle_error(
        self: RequestHandler,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> Any:
        if status == HTTPStatus.BAD_REQUEST:
            message = "malformed HTTP request"
        return quoting(self, request, status, exc, message)

    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]


def _stopped_early(signum: int, frame: object) -> None:
    """SIGTERM while the server is being set up: exit at once, as a stop would."""
    raise SystemExit(0)


async def _run(app: web.Application, sockets: list[socket.socket]) -> None:
    """Serve ``app`` on ``sockets`` until SIGINT or SIGTERM; while it starts, the starting
    app answers in its place."""
    from aiohttp import web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    serving = web.AppRunner(app, access_log=None)
    try:
        if await _while_starting(serving, sockets, stop):
            for sock in sockets:
                await web.SockSite(serving, sock).start()
            await stop.wait()
    finally:
        await serving.cleanup()


async def _while_starting(
    serving: web.AppRunner, sockets: list[socket.socket], stop: asyncio.Event
) -> bool:
    """Answer from the starting app on ``sockets`` while ``serving`` sets up; whether it
    did before ``stop`` was set (then its setup is cancelled)."""
    from aiohttp import web

    from lumen_bridge.app import starting_app

    waiting = web.AppRunner(starting_app(serving.app), access_log=None)
    await waiting.setup()
    try:
        for sock in sockets:  # a copy: stopping the site closes it, the socket stays open
            await web.SockSite(waiting, sock.dup()).start()
        return await _unless(serving.setup(), stop)
    finally:
        await waiting.cleanup()  # closes its connections: clients connect again, to the app


async def _unless(work: Awaitable[None], stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` is set first (``work`` is then cancelled); whether it
    ended."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()
    return True
