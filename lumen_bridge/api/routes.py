"""Every endpoint of the HTTP API, in one table (``/openapi.json`` describes them)."""

from __future__ import annotations

from aiohttp import web

from lumen_bridge.api import (
    alertmanager_v2,
    audit,
    deliveries,
    explain,
    health,
    incident_actions,
    incidents,
    openapi,
    silences,
    webhook,
)

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    """Register every handler on ``app``."""
    router = app.router
    router.add_post("/webhook", webhook.receive)
    router.add_post("/silence", silences.create)
    router.add_get("/silence", silences.list_silences)
    router.add_get("/silence/{id}", silences.get_silence)
    router.add_delete("/silence/{id}", silences.expire)
    router.add_post("/silence/{id}/extend", silences.extend)
    router.add_post("/explain", explain.explain_webhook)
    router.add_post("/notifications/{id}/resend", deliveries.resend_notification)
    router.add_get("/incidents", incidents.list_incidents)
    router.add_get("/incidents/{id}", incidents.get_incident)
    router.add_post("/incidents/{id}/ack", incident_actions.ack_incident)
    router.add_get("/audit", audit.list_audit)
    router.add_get("/healthz", health.healthz)
    router.add_get("/readyz", health.readyz)
    router.add_get("/metrics", health.metrics)
    router.add_get("/openapi.json", openapi.serve)
    # Alertmanager's API v2, the part silence tools use (amtool, Grafana)
    router.add_get("/api/v2/silences", alertmanager_v2.list_silences)
    router.add_post("/api/v2/silences", alertmanager_v2.post_silence)
    router.add_get("/api/v2/silence/{id}", alertmanager_v2.get_silence)
    router.add_delete("/api/v2/silence/{id}", alertmanager_v2.delete_silence)
    router.add_get("/api/v2/status", alertmanager_v2.status)
    router.add_get("/api/v2/alerts", alertmanager_v2.list_alerts)
