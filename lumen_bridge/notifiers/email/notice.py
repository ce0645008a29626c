"""A notice's e-mail (a silence's reminder or digest): the subject, plain text and
recipients written when it was queued (:class:`~lumen_bridge.domain.notification.Notice`),
sent with the receiver's sender and relay. Its ``Message-ID`` is stable across retries."""

from __future__ import annotations

import email.policy
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from lumen_bridge.config import EmailReceiver
from lumen_bridge.domain.notification import Delivery, Earlier, Notice
from lumen_bridge.notifiers.email.render import SUBJECT_MAX, message_id, one_line

__all__ = ["build_notice"]


def build_notice(
    delivery: Delivery, notice: Notice, receiver: EmailReceiver, now: datetime, domain: str
) -> EmailMessage:
    """The e-mail of ``notice`` (``delivery``'s), from ``receiver``'s sender."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = one_line(notice["subject"], SUBJECT_MAX)
    message["From"] = one_line(receiver.from_)
    message["To"] = ", ".join(one_line(address) for address in notice["to"])
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(
        Earlier(delivery.idempotency_key, delivery.created_at), domain
    )
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notice["text"], cte="quoted-printable")
    return message
