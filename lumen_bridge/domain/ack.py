"""Acknowledgement (docs/lifecycle.md): when an ack holds, and the signed acknowledge link.

An ack holds for the incident's current firing episode only: a re-fire after a resolve is
a new episode, not acknowledged. The link's token is
``<incident>.<episode>.<expires>.<signature>``: the episode is the alert's ``startsAt``
(Alertmanager's own episode identity, in microseconds since the epoch), ``expires`` a Unix
time, the signature an HMAC-SHA256 of the rest (base64url), checked in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["AckClaim", "BadToken", "acknowledged", "episode_of", "sign", "verify"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def acknowledged(acked_at: datetime | None, resolved_at: datetime | None) -> bool:
    """Whether an ack made at ``acked_at`` holds for the episode (none once it resolved)."""
    return acked_at is not None and (resolved_at is None or acked_at > resolved_at)


def episode_of(starts_at: datetime) -> int:
    """The episode a link names: the incident's ``startsAt``, in microseconds."""
    delta = starts_at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What an acknowledge link says: ack this incident's episode, until ``expires``."""

    incident_id: int
    episode: int
    expires: int
    """Unix time, seconds."""


class BadToken(Exception):
    """A link that is not one of ours, was changed, or has expired (the message says which)."""


def _signature(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, claim: AckClaim) -> str:
    """The token of ``claim``, signed with ``secret``."""
    message = f"{claim.incident_id}.{claim.episode}.{claim.expires}"
    return f"{message}.{_signature(secret, message)}"


def verify(secret: bytes, token: str, now: datetime) -> AckClaim:
    """The claim of ``token`` if ``secret`` signed it and it has not expired at ``now``;
    else raise :class:`BadToken`."""
    message, _, signature = token.rpartition(".")
    fields = message.split(".")
    if len(fields) != 3 or not all(f.isascii() and f.isdigit() and len(f) < 20 for f in fields):
        raise BadToken("this is not an acknowledge link of this bridge")
    if not hmac.compare_digest(signature.encode(), _signature(secret, message).encode()):
        raise BadToken("this acknowledge link was changed or is not from this bridge")
    claim = AckClaim(int(fields[0]), int(fields[1]), int(fields[2]))
    if now.timestamp() >= claim.expires:
        raise BadToken(
            "this acknowledge link has expired: open the incident on the console to acknowledge"
        )
    return claim
