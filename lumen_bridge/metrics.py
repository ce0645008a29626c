"""Every metric of the bridge, on one explicit registry created up front.

Counters are updated where things happen; the gauges that describe the database
(outbox backlog, open incidents, the flag) are refreshed from it at each scrape, so
that every replica reports the shared truth.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from lumen_bridge import __version__

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    """The bridge's collectors (names fixed by docs/contract.md §9)."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # _created series are noise
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.webhook_requests = Counter(
            "lumen_bridge_webhook_requests_total",
            "Webhook requests answered, by HTTP status code.",
            ["code"],
            registry=r,
        )
        self.alerts_received = Counter(
            "lumen_bridge_alerts_received_total",
            "Alerts received in accepted webhooks, by alert status.",
            ["status"],
            registry=r,
        )
        self.alerts_deduplicated = Counter(
            "lumen_bridge_alerts_deduplicated_total",
            "Alerts that repeated a notification already decided (per route).",
            registry=r,
        )
        self.alerts_suppressed = Counter(
            "lumen_bridge_alerts_suppressed_total",
            "Alerts whose notification a silence or the flag held back, by reason.",
            ["reason"],
            registry=r,
        )
        self.notifications = Counter(
            "lumen_bridge_notifications_total",
            "Delivery attempts by receiver and result (delivered, retry, dead).",
            ["receiver", "result"],
            registry=r,
        )
        self.notification_latency = Histogram(
            "lumen_bridge_notification_latency_seconds",
            "Time from webhook receipt to successful delivery.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox_pending = Gauge(
            "lumen_bridge_outbox_pending",
            "Notifications waiting for delivery (pending or in flight).",
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "lumen_bridge_outbox_oldest_age_seconds",
            "Age of the oldest notification waiting for delivery (0 when none).",
            registry=r,
        )
        self.outbox_dead = Gauge(
            "lumen_bridge_outbox_dead",
            "Notifications that can never be delivered (dead letters).",
            registry=r,
        )
        self.incidents_open = Gauge(
            "lumen_bridge_incidents_open", "Incidents currently firing.", registry=r
        )
        self.suppressed = Gauge(
            "lumen_alert_suppressed",
            "1 while the global suppression flag is raised, else 0.",
            registry=r,
        )
        self.pruned = Counter(
            "lumen_bridge_pruned_total",
            "Rows deleted by retention (older than retention.max_age), by table.",
            ["table"],
            registry=r,
        )
        self.reconciled = Counter(
            "lumen_bridge_reconciled_total",
            "Incidents resolved by reconcile: firing in the bridge, gone from Alertmanager.",
            registry=r,
        )
        self.silence_notices = Counter(
            "lumen_bridge_silence_notices_total",
            "Silence reminders and digests queued, by kind (reminder, digest).",
            ["kind"],
            registry=r,
        )
        self.escalations = Counter(
            "lumen_bridge_escalations_total",
            "Escalation pages queued for incidents nobody acknowledged, by receiver paged.",
            ["receiver"],
            registry=r,
        )
        self.build_info = Gauge(
            "lumen_bridge_build_info",
            "Always 1; the version label says which.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(__version__).set(1)
        # The webhook handler's children, looked up once (labels() costs a lock and a hash).
        self.received = {s: self.alerts_received.labels(s) for s in ("firing", "resolved")}
        self.suppressed_by = {r: self.alerts_suppressed.labels(r) for r in ("flag", "silence")}
        self._answers: dict[int, Counter] = {}

    def answered(self, status: int) -> None:
        """Count one webhook answered with HTTP ``status``."""
        child = self._answers.get(status)
        if child is None:
            child = self._answers[status] = self.webhook_requests.labels(str(status))
        child.inc()
