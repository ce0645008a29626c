"""Rejected webhooks in the log: each with its reason and peer, never a flood of them.

A sender that posts bad webhooks in a loop, or Alertmanager retrying through an outage,
must not fill the disk: each reason is logged at most ``per_window`` times a ``window``
(10 a minute by default); past that, rejections of that reason are only counted, and one
line at the window's end says how many were left out. Each rejection costs a dict lookup
and a counter. No token and no body is ever logged: only the status, the reason (the
error the sender got) and the peer's address.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

__all__ = ["PER_WINDOW", "WINDOW", "RejectionLog"]

PER_WINDOW = 10
WINDOW = 60.0  # seconds

log = structlog.get_logger("lumen_bridge.webhook")


@dataclass(slots=True)
class _Window:
    started: float
    logged: int = 0
    left_out: int = 0


class RejectionLog:
    """Logs rejected webhooks, at most ``per_window`` lines per reason every ``window`` s."""

    def __init__(self, per_window: int = PER_WINDOW, window: float = WINDOW) -> None:
        self.per_window = per_window
        self.window = window
        self._windows: dict[tuple[int, str], _Window] = {}

    def rejected(self, status: int, reason: str, peer: str | None, error: str | None) -> None:
        """Log (or count) one rejected webhook: its answer's status and error, its sender,
        and for a 503 why the database could not take it (``error``)."""
        key = (status, reason)
        now = time.monotonic()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.window:
            window = self._windows[key] = _Window(now)
        if window.logged < self.per_window:
            window.logged += 1
            fields = {"status": status, "reason": reason, "peer": peer}
            if error is not None:
                fields["error"] = error
            (log.warning if status >= 500 else log.info)("webhook rejected", **fields)
            return
        if not window.left_out:  # the first one left out: say how many at the window's end
            loop = asyncio.get_running_loop()
            loop.call_later(window.started + self.window - now, self._left_out, key, window)
        window.left_out += 1

    def _left_out(self, key: tuple[int, str], window: _Window) -> None:
        status, reason = key
        log.warning(
            "webhook rejections left out of the log",
            status=status,
            reason=reason,
            left_out=window.left_out,
            window_s=self.window,
        )
        if self._windows.get(key) is window:
            del self._windows[key]
