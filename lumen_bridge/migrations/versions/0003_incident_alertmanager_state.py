"""incident: Alertmanager's state, for reconcile

Reconcile (docs/reconcile.md) records on each firing incident what Alertmanager says of its
alert (``am_state``: active, silenced, inhibited) and since when no peer has it
(``am_absent_since``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("am_state", sa.String(16), nullable=True))
    op.add_column(
        "incidents", sa.Column("am_absent_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("am_absent_since")
        batch.drop_column("am_state")
