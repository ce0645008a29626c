"""SQLAlchemy 2.0 typed models: incidents, their timeline, the outbox and silences.

One row of ``incidents`` is one alert identity (fingerprint) on one receiver; at most
one row per (receiver, identity) is ``current`` (a partial unique index), which is
what makes concurrent twins — in one process or in two replicas — safe.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from lumen_bridge.store.types import BigId, UTCDateTime


class Base(DeclarativeBase):
    """Declarative base with predictable constraint names for Alembic."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


CURRENT = text("is_current")
"""The predicate of the partial unique index on current incidents. Queries that look up
current incidents by key must use this very expression: SQLite only uses a partial index
when the query repeats its WHERE term (``is_current = 1`` makes it scan the table)."""


class IncidentStatus(enum.StrEnum):
    """Whether the incident's current episode is firing."""

    FIRING = "firing"
    RESOLVED = "resolved"


class AlertmanagerState(enum.StrEnum):
    """What Alertmanager last said of an incident's alert (docs/reconcile.md): ``active``,
    or held back there by a silence or an inhibition."""

    ACTIVE = "active"
    SILENCED = "silenced"
    INHIBITED = "inhibited"


class OutboxStatus(enum.StrEnum):
    """Delivery state of a notification; ``delivered`` and ``dead`` are terminal."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    DEAD = "dead"


class Incident(Base):
    """One alert identity on one receiver, across its firing episodes until it is replaced."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index(  # identity first: the batch lock asks for many identities of one receiver
            "uq_incidents_current_key",
            "identity",
            "receiver",
            unique=True,
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        ),
        Index("ix_incidents_last_seen", "last_seen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(String(200))
    identity: Mapped[str] = mapped_column(String(200))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    alertname: Mapped[str] = mapped_column(Text)
    severity: Mapped[str | None] = mapped_column(Text)
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    last_notified_at: Mapped[datetime | None]
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_seq: Mapped[int] = mapped_column(Integer, default=0)
    generator_url: Mapped[str] = mapped_column(Text, default="")
    alertmanager_url: Mapped[str] = mapped_column(Text, default="")
    group_key: Mapped[str] = mapped_column(Text, default="")
    am_state: Mapped[str | None] = mapped_column(String(16))
    """An :class:`AlertmanagerState`, set by reconcile; None until it sees the alert."""
    am_absent_since: Mapped[datetime | None]
    """The first poll of reconcile at which no peer that answered had the alert (None while
    one has it): a second poll that finds it absent resolves the incident."""
    acked_at: Mapped[datetime | None]
    """When someone acknowledged the incident; the ack holds while this is after
    ``resolved_at`` (a re-fire after a resolve is a new episode, not acknowledged)."""
    acked_by: Mapped[str | None] = mapped_column(String(200))
    escalation_level: Mapped[int] = mapped_column(Integer, server_default="0")
    """How many escalation steps of its route this episode has paged."""
    escalated_at: Mapped[datetime | None]


class AlertEvent(Base):
    """Every alert received, with what was decided for it: the incident's timeline."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_incident_id", "incident_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("incidents.id"))
    received_at: Mapped[datetime]
    receiver: Mapped[str | None] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))


class Notification(Base):
    """An outbox row: one notification to one receiver, delivered by the worker."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    notice: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A message that is not about one alert episode (a silence's reminder or digest):
    such a row has no items."""
    items: Mapped[list[NotificationItem]] = relationship(lazy="raise")


class NotificationItem(Base):
    """An incident carried by a notification, with the alert as it was when decided."""

    __tablename__ = "outbox_items"
    __table_args__ = (
        UniqueConstraint("incident_id", "seq"),
        Index("ix_outbox_items_outbox_id", "outbox_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(BigId, ForeignKey("outbox.id"))
    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey("incidents.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[dict[str, Any]]


class DeliveryAttempt(Base):
    """One try at delivering an outbox row, and how it ended."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_outbox_id", "outbox_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(BigId, ForeignKey("outbox.id"))
    attempted_at: Mapped[datetime]
    result: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float | None]


class Silence(Base):
    """A silence (Alertmanager semantics); no matchers is the global suppression flag."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    matchers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    replayed_at: Mapped[datetime | None]
    resolve_grace_s: Mapped[int | None] = mapped_column(Integer)
    """An "until resolved" silence: it ends once every incident it matches has been resolved
    this many seconds (``ends_at`` stays its upper bound). None: it ends at ``ends_at``."""
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """A recurring maintenance window: the silence holds only inside its occurrences,
    between ``starts_at`` and ``ends_at``. None: it holds throughout."""
    reminded_at: Mapped[datetime | None]
    """When the reminder that it ends soon went out (None: not yet, or extended since)."""
    digested_at: Mapped[datetime | None]
    """When the digest of its end went out (None: not yet, or extended since)."""


class AuditEntry(Base):
    """One human action (ack, silence created, extended or expired, flag, re-send) and who
    did it."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class SigningKey(Base):
    """A secret shared by every replica (the one that signs acknowledge links)."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
