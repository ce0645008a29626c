"""The web console: server-rendered pages over the bridge's incidents, silences, the
suppression flag, delivery health and explain (``/`` and ``/ui/...``)."""

from lumen_bridge.web.routes import add_routes

__all__ = ["add_routes"]
