"""Runbook links (docs/contract.md §7).

The alert's ``runbook_url`` annotation wins; otherwise the link is
``base_url#anchor``, the anchor taken from the configured map by alert name, or
the lower-cased alert name.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from lumen_bridge.config import RunbookConfig


def runbook_url(config: RunbookConfig, alertname: str, annotations: Mapping[str, str]) -> str:
    """The runbook link of an alert."""
    explicit = annotations.get("runbook_url", "").strip()
    if explicit:
        return explicit
    anchor = config.anchors.get(alertname) or alertname.lower()
    base = config.base_url.rstrip("#")
    return f"{base}#{quote(anchor, safe='-._~')}" if anchor else base
