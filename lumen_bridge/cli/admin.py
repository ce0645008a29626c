"""``lumen-bridge db upgrade`` and ``check-config``: the configuration and the schema,
checked or brought up to date without serving."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError

from lumen_bridge.cli.settings import config_source, read_settings, safe_url

__all__ = ["check_config", "db_upgrade"]


def db_upgrade(args: argparse.Namespace) -> int:
    """Apply the migrations up to this version's head; the exit code."""
    from lumen_bridge.store import migrate

    settings = read_settings(args)
    url = settings.database.url
    try:
        migrate.upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        print(f"lumen-bridge: cannot migrate {safe_url(url)}: {exc}", file=sys.stderr)
        return 1
    print(f"database {safe_url(url)} is at revision {migrate.head_revision()}")
    return 0


def check_config(args: argparse.Namespace) -> int:
    """Validate the configuration and show what it sets up; the exit code (an invalid one
    exits 2 with every error, see :func:`read_settings`)."""
    settings = read_settings(args, templates=True)
    print(f"configuration OK ({config_source(args)})")
    print(f"  listen    {settings.server.host}:{settings.server.port}")
    print(f"  database  {safe_url(settings.database.url)}")
    for receiver in settings.receivers:
        state = "" if receiver.has_destination else "  (no destination: records only)"
        print(f"  receiver  {receiver.name} ({receiver.type}){state}")
    for route in settings.routes:
        matchers = ", ".join(str(m) for m in route.matchers) or "(everything)"
        cont = " continue" if route.continue_ else ""
        print(f"  route     {matchers} -> {route.receiver}{cont}")
    return 0
