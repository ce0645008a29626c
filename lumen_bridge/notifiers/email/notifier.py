"""The e-mail notifier: pages on-call through its receiver's SMTP relay (aiosmtplib).

A page's recipients come from the configuration only; a notice (a silence's reminder or
digest) names its own, chosen when it was queued. SMTP 5xx replies are permanent; 4xx
replies, timeouts and network errors are retried by the delivery worker.
"""

from __future__ import annotations

from email.utils import parseaddr

import aiosmtplib

from lumen_bridge.clock import Clock
from lumen_bridge.config import EmailReceiver, RunbookConfig
from lumen_bridge.domain.notification import Delivery
from lumen_bridge.notifiers.ack_links import AckLinks
from lumen_bridge.notifiers.base import Result, Verdict
from lumen_bridge.notifiers.email.notice import build_notice
from lumen_bridge.notifiers.email.pool import POOL_IDLE, POOL_MESSAGES, POOL_SIZE, SmtpPool
from lumen_bridge.notifiers.email.render import build_page, page_templates

__all__ = ["EmailNotifier"]


class EmailNotifier:
    """Sends pages for one e-mail receiver through its SMTP relay, on a few reused sessions."""

    def __init__(
        self,
        receiver: EmailReceiver,
        runbooks: RunbookConfig,
        clock: Clock,
        *,
        pool_size: int = POOL_SIZE,
        max_messages: int = POOL_MESSAGES,
        max_idle: float = POOL_IDLE,
        external_url: str | None = None,
        ack_links: AckLinks | None = None,
    ) -> None:
        self.receiver = receiver
        self.external_url = external_url
        self.ack_links = ack_links
        self.runbooks = runbooks
        self.clock = clock
        self.templates = page_templates(receiver.templates)
        self.sender = parseaddr(receiver.from_)[1] or receiver.from_
        self.domain = self.sender.rpartition("@")[2] or "lumen-bridge.local"
        self.pool = SmtpPool(
            receiver.smtp, size=pool_size, max_messages=max_messages, max_idle=max_idle
        )

    async def send(self, delivery: Delivery) -> Result:
        """Hand the page (or the notice) to the relay; SMTP 5xx replies are permanent, the
        rest is retried."""
        try:
            async with self.pool.slots:  # built only once a session is ours: bounded memory
                if delivery.notice is not None:  # a silence's reminder or digest
                    notice = build_notice(
                        delivery, delivery.notice, self.receiver, self.clock(), self.domain
                    )
                    await self.pool.send(notice, self.sender, delivery.notice["to"])
                    return Result.delivered(250)
                message = build_page(
                    delivery,
                    self.receiver,
                    self.runbooks,
                    self.templates,
                    self.clock(),
                    self.domain,
                    self.external_url,
                    self.ack_links,
                )
                await self.pool.send(message, self.sender, self.receiver.to)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            verdict = Verdict.PERMANENT if all(c >= 500 for c in codes) else Verdict.RETRY
            return Result(verdict, max(codes, default=None), f"recipients refused: {exc}")
        except aiosmtplib.SMTPResponseException as exc:
            verdict = Verdict.PERMANENT if exc.code >= 500 else Verdict.RETRY
            return Result(verdict, exc.code, f"SMTP {exc.code}: {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Result(Verdict.RETRY, error=f"{type(exc).__name__}: {exc}")
        return Result.delivered(250)

    async def close(self) -> None:
        """QUIT the idle sessions (a later send connects again)."""
        await self.pool.close()
