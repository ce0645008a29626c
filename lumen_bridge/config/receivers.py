"""Receivers: where notifications go (an e-mail relay, the ticket system, a webhook)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from lumen_bridge.config.fields import (
    Duration,
    Model,
    OptionalHttpUrl,
    OptionalSecret,
    OptionalStr,
    Recipient,
    Sender,
    blank_to_none,
    split_addresses,
)


class SmtpConfig(Model):
    """The mail relay; ``tls`` empty picks ``starttls`` when a user is set, else ``none``."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    user: OptionalStr = None
    password: OptionalSecret = None
    tls: Annotated[Literal["starttls", "tls", "none"] | None, BeforeValidator(blank_to_none)] = None
    ca_file: OptionalStr = None
    timeout: Duration = timedelta(seconds=10)

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            raise ValueError(f"no such file: {path} (SMTP_CA_FILE must name a PEM bundle)")
        return path

    @property
    def tls_mode(self) -> Literal["starttls", "tls", "none"]:
        """The TLS mode in effect."""
        if self.tls is not None:
            return self.tls
        return "starttls" if self.user else "none"


class EmailReceiver(Model):
    """Pages by e-mail."""

    name: str
    type: Literal["email"]
    to: Annotated[list[Recipient], BeforeValidator(split_addresses)]
    """Bare addresses, a list or one comma-separated string."""
    from_: Sender = Field(alias="from")
    smtp: SmtpConfig = SmtpConfig()
    templates: OptionalStr = None
    """A directory whose ``page.txt`` and ``page.html`` (Jinja2) replace the built-in ones."""

    @field_validator("to")
    @classmethod
    def _someone(cls, to: list[str]) -> list[str]:
        if not to:
            raise ValueError("no address: name at least one, like oncall@example.com")
        return to

    @field_validator("templates")
    @classmethod
    def _directory(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_dir():
            raise ValueError(
                f"no such directory: {path} (it holds page.txt and/or page.html to use instead "
                "of the built-in templates)"
            )
        return path

    @property
    def has_destination(self) -> bool:
        """Whether notifications for this receiver can go anywhere."""
        return bool(self.to)


class _HttpReceiver(Model):
    """A receiver that POSTs JSON to a URL, with an optional bearer token. Without a URL it
    only records, and only when it says so (``optional: true``): a URL missing by mistake
    is an error, not alerts silently ignored."""

    name: str
    optional: bool = False
    url: OptionalHttpUrl = Field(default=None, validate_default=True)
    token: OptionalSecret = None
    timeout: Duration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _destination(cls, url: str | None, info: ValidationInfo) -> str | None:
        # "optional" is absent from info.data when it is itself invalid: one error is enough.
        if url is None and not info.data.get("optional", True):
            raise ValueError(
                "no URL, so nothing would be sent: set one, or say `optional: true` "
                "if this receiver should only record"
            )
        return url

    @property
    def has_destination(self) -> bool:
        """Whether notifications for this receiver can go anywhere."""
        return self.url is not None


class TicketReceiver(_HttpReceiver):
    """One ticket per incident through the ticket system's webhook."""

    type: Literal["ticket"]


class WebhookReceiver(_HttpReceiver):
    """A generic webhook."""

    type: Literal["webhook"]


Receiver = Annotated[EmailReceiver | TicketReceiver | WebhookReceiver, Field(discriminator="type")]
