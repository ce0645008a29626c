"""What the HTTP handlers take from the application (``request.app[RUNNER]``, ...).

The composition root (:mod:`lumen_bridge.app`) puts each in place before serving.
"""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.clock import Clock
from lumen_bridge.config import Settings
from lumen_bridge.ingest import Ingest
from lumen_bridge.metrics import Metrics
from lumen_bridge.pipeline import Replayer
from lumen_bridge.store.runner import Runner

__all__ = ["CLOCK", "HEAD_REVISION", "INGEST", "METRICS", "REPLAYER", "RUNNER", "SETTINGS"]

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
METRICS = web.AppKey("metrics", Metrics)
HEAD_REVISION = web.AppKey("head_revision", str)
"""The schema revision this version expects (``/readyz`` compares the database's)."""
RUNNER = web.AppKey("runner", Runner)
"""The database of this process, for the API's reads and writes."""
INGEST = web.AppKey("ingest", Ingest)
REPLAYER = web.AppKey("replayer", Replayer)
