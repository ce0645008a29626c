"""Links to the bridge's own console from what it sends: the incident's page, and a silence
form filled in with the alert's labels (``server.external_url``; none when it is unset)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode

from lumen_bridge.domain.matchers import Matcher

__all__ = ["incident_url", "silence_url"]


def incident_url(external_url: str | None, incident_id: int | None) -> str | None:
    """The console page of incident ``incident_id``."""
    if not external_url or incident_id is None:
        return None
    return f"{external_url.rstrip('/')}/ui/incidents/{incident_id}"


def silence_url(external_url: str | None, labels: Mapping[str, str]) -> str | None:
    """The console's silence form with one matcher per label of the alert, to review."""
    if not external_url:
        return None
    lines = "\n".join(str(Matcher(name, value)) for name, value in sorted(labels.items()))
    return (
        f"{external_url.rstrip('/')}/ui/silences?{urlencode({'matchers': lines}, quote_via=quote)}"
    )
