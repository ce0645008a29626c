"""current-incident key: identity first

The batch lock looks current incidents up by ``receiver = ? AND identity IN (...)``. With
``receiver`` first in the unique index, PostgreSQL planned it (before its statistics knew
the table had grown) as a scan of every current incident of the receiver, filtered by
identity: 2.8 ms for 32 keys among 9,600 incidents, growing with them. With ``identity``
first the index answers the identities themselves (0.12 ms), whatever the statistics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(columns: list[str]) -> None:
    op.drop_index("uq_incidents_current_key", table_name="incidents")
    op.create_index(
        "uq_incidents_current_key",
        "incidents",
        columns,
        unique=True,
        sqlite_where=sa.text("is_current"),
        postgresql_where=sa.text("is_current"),
    )


def upgrade() -> None:
    _key(["identity", "receiver"])


def downgrade() -> None:
    _key(["receiver", "identity"])
