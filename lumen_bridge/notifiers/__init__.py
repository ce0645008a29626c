"""Notifiers: one module per integration behind one small protocol (:mod:`.base`)."""

from lumen_bridge.notifiers.base import Notifier, Result, Verdict

__all__ = ["Notifier", "Result", "Verdict"]
