"""Delivery: the worker that drains the outbox, its retry policy, and its wiring."""

from lumen_bridge.delivery.policy import RetryPolicy
from lumen_bridge.delivery.wiring import build_notifiers, delivering
from lumen_bridge.delivery.worker import IngestPressure, OutboxWorker

__all__ = ["IngestPressure", "OutboxWorker", "RetryPolicy", "build_notifiers", "delivering"]
