"""The incident lifecycle's settings: silences that end well, acknowledge and escalate."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from lumen_bridge.config.fields import Duration, Model, OptionalStr

__all__ = ["AckConfig", "EscalationStep", "SilencesConfig"]


class SilencesConfig(Model):
    """Silences that end well (docs/silences.md): a reminder ``remind_before`` a silence
    ends while it still holds firing incidents, and a digest when it ends, to its author
    when ``createdBy`` is an address, else to the e-mail receiver ``notify`` (default: the
    first e-mail receiver). An "until resolved" silence ends ``until_resolved_grace`` after
    the last incident it matches resolved, and lasts ``until_resolved_max`` at most unless
    it gives its own end."""

    remind_before: Duration = timedelta(minutes=15)
    notify: OptionalStr = None
    until_resolved_grace: Duration = timedelta(minutes=5)
    until_resolved_max: Duration = timedelta(days=7)


class EscalationStep(Model):
    """Page ``receiver`` (an e-mail receiver: the next level's recipients) when a page has
    not been acknowledged ``after`` the previous level was paged."""

    after: Duration
    receiver: str


class AckConfig(Model):
    """Acknowledge links in page e-mails stay valid ``link_ttl``."""

    link_ttl: Duration = Field(default=timedelta(hours=24))
