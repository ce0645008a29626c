"""The router's first-match/continue rules and per-route windows (matcher semantics have
their own tests: tests/unit/test_matchers.py)."""

from __future__ import annotations

from pathlib import Path

from lumen_bridge.config import load_settings
from lumen_bridge.pipeline.route import Router


def test_default_routes_follow_severity() -> None:
    router = Router(load_settings(None, environ={}))
    assert [r.receiver.name for r in router.route({"severity": "page"})] == ["oncall"]
    assert [r.receiver.name for r in router.route({"severity": "ticket"})] == ["backlog"]
    assert [r.receiver.name for r in router.route({"severity": "warning"})] == ["default"]
    assert [r.receiver.name for r in router.route({})] == ["default"]


def test_continue_and_per_route_windows(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "receivers:\n"
        "  - {name: a, type: webhook, url: 'http://127.0.0.1:1/a'}\n"
        "  - {name: b, type: webhook, optional: true}\n"
        "routes:\n"
        "  - {matchers: ['team=~\"db|web\"'], receiver: a, continue: true, dedup_window: 1h}\n"
        "  - {matchers: ['team=db'], receiver: b}\n"
        "  - {receiver: a}\n"
    )
    router = Router(load_settings(config, environ={}))
    routes = router.route({"team": "db"})
    assert [r.receiver.name for r in routes] == ["a", "b"]
    assert routes[0].dedup_window.total_seconds() == 3600
    assert routes[1].reopen_window.total_seconds() == 600
    assert [r.receiver.name for r in router.route({"team": "web"})] == ["a"]
    assert [r.receiver.name for r in router.route({"team": "ops"})] == ["a"]
