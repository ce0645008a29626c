"""How values are stored: UTC timestamps on every backend, JSON text, 64-bit ids."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator

__all__ = ["JSON_COLUMNS", "MAX_ID", "BigId", "UTCDateTime", "json_text", "row_id"]

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")
MAX_ID = 2**63 - 1
"""The largest id a row can have (both backends' ids are signed 64-bit integers)."""


def row_id(text: str) -> int | None:
    """The id ``text`` (a path segment) names, or None when it cannot name a row: not ASCII
    digits, or past :data:`MAX_ID`."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:  # nearly always (every clock of the bridge is UTC): no new object
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _sqlite_text(value: datetime | None) -> str | None:
    """``value`` as SQLite stores SQLAlchemy's DateTime: ``YYYY-MM-DD HH:MM:SS.ffffff``, UTC.

    Cached: a batch binds the same few instants again and again (its receipt times, the
    alerts' ``startsAt``), about twenty times per webhook.
    """
    if value is None:
        return None
    return _as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """PostgreSQL's binding (SQLite's is :func:`_sqlite_text`, see :meth:`bind_processor`)."""
        return None if value is None else _as_utc(value)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, straight to SQLAlchemy's text format in one call (the hot path stores
        several timestamps per alert); elsewhere :meth:`process_bind_param`."""
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_text(value: object) -> str:
    """JSON columns are written by pydantic's serializer (in Rust: several times faster than
    the standard library's); every engine reads them with its parser, ``from_json``."""
    return to_json(value).decode()


JSON_COLUMNS: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": from_json}
"""How every engine of the bridge writes and reads JSON columns."""
