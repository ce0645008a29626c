"""Secrets shared by every replica (``signing_keys``), created once: the first replica to ask
inserts a random one, and every replica reads back the one that won."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from lumen_bridge.store.models import SigningKey

__all__ = ["ACK_LINKS", "shared_secret"]

ACK_LINKS = "ack-links"
"""The key that signs acknowledge links (docs/lifecycle.md)."""


def shared_secret(connection: Connection, name: str, now: datetime) -> bytes:
    """The secret called ``name``, made now if there is none yet (a concurrent maker's
    insert is ignored, never an error, and both read the same one)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(SigningKey)
        .values(name=name, secret=secrets.token_hex(32), created_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    secret = connection.scalar(select(SigningKey.secret).where(SigningKey.name == name))
    assert secret is not None
    return bytes.fromhex(secret)
