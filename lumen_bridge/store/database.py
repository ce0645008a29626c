"""The database of a bridge process: the runner of its backend, chosen by the URL."""

from __future__ import annotations

from lumen_bridge.config import DatabaseConfig
from lumen_bridge.store.postgres import PostgresRunner
from lumen_bridge.store.runner import Runner, is_sqlite
from lumen_bridge.store.sqlite import SqliteRunner

__all__ = ["open_runner"]


def open_runner(config: DatabaseConfig, *, serial: bool = False) -> Runner:
    """The runner for ``config``'s database.

    ``serial`` promises one transaction at a time (the writer process's batches): then a
    PostgreSQL connection is kept between transactions, as SQLite's always is.
    """
    if is_sqlite(config.url):
        return SqliteRunner(config)
    return PostgresRunner(config, serial=serial)
