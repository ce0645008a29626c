"""lifecycle: silences that end well, acknowledge and escalate, the audit log

- ``silences``: ``resolve_grace_s`` (an "until resolved" silence: it ends once every
  incident it matches has been resolved this long), ``schedule`` (a recurring maintenance
  window), ``reminded_at`` and ``digested_at`` (its reminder and its digest went out).
- ``incidents``: who acknowledged the current episode and when, and how far it escalated.
- ``outbox.notice``: a message that is not about one alert episode (a silence's reminder
  or digest), delivered like every notification.
- ``audit_log``: every human action with its author; ``signing_keys``: the secret that
  signs acknowledge links, shared by every replica.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 01:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("silences", sa.Column("resolve_grace_s", sa.Integer(), nullable=True))
    op.add_column("silences", sa.Column("schedule", sa.JSON(), nullable=True))
    op.add_column("silences", sa.Column("reminded_at", _TIME, nullable=True))
    op.add_column("silences", sa.Column("digested_at", _TIME, nullable=True))
    op.add_column("incidents", sa.Column("acked_at", _TIME, nullable=True))
    op.add_column("incidents", sa.Column("acked_by", sa.String(200), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("incidents", sa.Column("escalated_at", _TIME, nullable=True))
    op.add_column("outbox", sa.Column("notice", sa.JSON(), nullable=True))
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_signing_keys")),
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("notice")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("escalated_at")
        batch.drop_column("escalation_level")
        batch.drop_column("acked_by")
        batch.drop_column("acked_at")
    with op.batch_alter_table("silences") as batch:
        batch.drop_column("digested_at")
        batch.drop_column("reminded_at")
        batch.drop_column("schedule")
        batch.drop_column("resolve_grace_s")
