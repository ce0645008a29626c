"""Reconcile with Alertmanager: resolve the incidents its peers no longer hold
(docs/reconcile.md)."""

from lumen_bridge.reconcile.decision import Change, Plan, Tracked, decide, merge
from lumen_bridge.reconcile.peers import Peer, PeerError, parse_alerts
from lumen_bridge.reconcile.reconciler import Poll, Reconciler, reconciling
from lumen_bridge.reconcile.resolve import REASON, ReconcilePipeline, resolved_payloads

__all__ = [
    "REASON",
    "Change",
    "Peer",
    "PeerError",
    "Plan",
    "Poll",
    "ReconcilePipeline",
    "Reconciler",
    "Tracked",
    "decide",
    "merge",
    "parse_alerts",
    "reconciling",
    "resolved_payloads",
]
