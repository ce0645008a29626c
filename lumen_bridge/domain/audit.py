"""The audit log's vocabulary: which human actions it records (docs/audit.md)."""

from __future__ import annotations

import enum

__all__ = ["LOCAL", "AuditAction"]

LOCAL = "local"
"""Who acts while admin authentication is off (the bridge then listens on loopback only)."""


class AuditAction(enum.StrEnum):
    """One kind of human action."""

    ACK = "ack"
    SILENCE_CREATE = "silence.create"
    SILENCE_UPDATE = "silence.update"
    SILENCE_EXTEND = "silence.extend"
    SILENCE_EXPIRE = "silence.expire"
    FLAG_RAISE = "flag.raise"
    FLAG_LOWER = "flag.lower"
    RESEND = "resend"
