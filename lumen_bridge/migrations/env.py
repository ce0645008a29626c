"""Alembic environment: runs migrations on the async engine of lumen-bridge.

``lumen-bridge db upgrade`` and ``serve`` pass the database URL in
``config.attributes["url"]``; the plain ``alembic`` command (developers, from the
repository root) reads it from the lumen-bridge configuration instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lumen_bridge.config import load_settings
from lumen_bridge.store.models import Base

# Any constant shared by every replica: concurrent starts take turns migrating.
_ADVISORY_LOCK_ID = 0x6C756D656E


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _url() -> str:
    url = context.config.attributes.get("url")
    return str(url) if url else load_settings().database.url


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(_url()))
