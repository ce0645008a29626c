"""Acknowledge links in pages (docs/lifecycle.md): ``{external_url}/ack/{token}``, signed with
the replicas' shared secret, for one incident's firing episode, valid ``ack.link_ttl``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lumen_bridge.domain.ack import AckClaim, episode_of, sign
from lumen_bridge.domain.notification import AlertSnapshot

__all__ = ["AckLinks"]


@dataclass(frozen=True, slots=True)
class AckLinks:
    """Makes the acknowledge link of a firing alert in a page."""

    external_url: str
    secret: bytes
    ttl: timedelta

    def url(self, alert: AlertSnapshot, now: datetime) -> str | None:
        """The link that acknowledges ``alert``'s episode until ``now`` + ``ttl`` (None for a
        resolved alert)."""
        if alert["status"] != "firing" or alert["incident_id"] is None:
            return None
        claim = AckClaim(
            alert["incident_id"],
            episode_of(datetime.fromisoformat(alert["starts_at"])),
            int((now + self.ttl).timestamp()),
        )
        return f"{self.external_url.rstrip('/')}/ack/{sign(self.secret, claim)}"
