"""Alembic, driven from code: the migrations ship inside the package."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` that works from a wheel in any directory."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("lumen_bridge") / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(url: str) -> None:
    """Apply every migration up to head (blocking; call it from a thread in async code)."""
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest revision shipped with this version."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at."""
    return MigrationContext.configure(connection).get_current_revision()
