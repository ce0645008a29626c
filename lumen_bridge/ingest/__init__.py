"""Ingest: webhooks committed in groups, in the writer process or in this one."""

from lumen_bridge.ingest.ingest import BATCH_BYTES, Ingest, Unavailable
from lumen_bridge.ingest.rejections import RejectionLog

__all__ = ["BATCH_BYTES", "Ingest", "RejectionLog", "Unavailable"]
