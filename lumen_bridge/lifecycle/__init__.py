"""The incident lifecycle's background work (docs/architecture.md): silence reminders and
digests, and escalation of pages nobody acknowledged."""

from lumen_bridge.lifecycle.ack import Acked, NoSuchIncident, NotAckable, acknowledge
from lumen_bridge.lifecycle.escalation import Escalated, Escalator
from lumen_bridge.lifecycle.silence_notices import (
    LATE_LIMIT,
    QueuedNotices,
    SilenceNotices,
    notice_receiver,
)

__all__ = [
    "LATE_LIMIT",
    "Acked",
    "Escalated",
    "Escalator",
    "NoSuchIncident",
    "NotAckable",
    "QueuedNotices",
    "SilenceNotices",
    "acknowledge",
    "notice_receiver",
]
