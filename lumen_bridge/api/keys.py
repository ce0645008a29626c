"""What the HTTP handlers take from the application (``request.app[RUNNER]``, ...).

The composition root (:mod:`lumen_bridge.app`) puts each in place before serving.
"""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.clock import Clock
from lumen_bridge.config import Settings
from lumen_bridge.ingest import Ingest, RejectionLog
from lumen_bridge.metrics import Metrics
from lumen_bridge.pipeline import Replayer
from lumen_bridge.store.runner import LastOutcome, Runner

__all__ = [
    "ACK_SECRET",
    "CLOCK",
    "HEAD_REVISION",
    "INGEST",
    "METRICS",
    "REJECTIONS",
    "REPLAYER",
    "RUNNER",
    "SETTINGS",
    "STARTUP",
    "WEBHOOK_SECRET",
]

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
HEAD_REVISION = web.AppKey("head_revision", str)
"""The schema revision this version expects (``/readyz`` compares the database's)."""
STARTUP = web.AppKey("startup", LastOutcome)
"""While the app starts: why its last try to bring the database's schema to head failed."""
RUNNER = web.AppKey("runner", Runner)
"""The database of this process, for the API's reads and writes."""
INGEST = web.AppKey("ingest", Ingest)
REPLAYER = web.AppKey("replayer", Replayer)
REJECTIONS = web.AppKey("rejections", RejectionLog)
WEBHOOK_SECRET: web.AppKey[bytes | None] = web.AppKey("webhook_secret")
"""The HMAC secret webhook bodies are signed with (``None``: they are not signed)."""
ACK_SECRET = web.AppKey("ack_secret", bytes)
"""The replicas' shared secret that signs acknowledge links (docs/lifecycle.md)."""
