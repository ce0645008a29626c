"""The shipped monitoring assets: rules, promtool tests, Alertmanager, Grafana, RUNBOOK.md.

promtool, amtool and prometheus-alertmanager must be installed (Debian packages prometheus and
prometheus-alertmanager); a missing binary fails these tests, it does not skip them.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "monitoring" / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.rules.yml"))
PIPELINE_RULES = RULES_DIR / "lumen-pipeline.rules.yml"
PROMTOOL_TESTS_DIR = ROOT / "tests" / "monitoring" / "promtool"
PROMTOOL_TESTS = sorted(PROMTOOL_TESTS_DIR.glob("*.test.yml"))
SEED_RULES = sorted((ROOT / "tests" / "monitoring" / "seed").glob("*.rules.yml"))
ALERTMANAGER_CONFIG = ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"
DASHBOARDS = sorted((ROOT / "monitoring" / "grafana").glob("*.json"))
RUNBOOK = ROOT / "RUNBOOK.md"
RUNBOOK_PREFIX = "https://runbook.local/lumen#"

# What each promtool test file shows about the seed's rules (GUIDE, "What is wrong with the
# seed's rules"): run against them, the file fails, and at least at these checks.
SEED_DEFECTS = {
    "healthy.test.yml": [
        "alertname: LumenPipelineStalled, time: 6h,",  # 1: a 3 h stall pages daily
        "alertname: LumenSLOBurnFast, time: 1d,",  # 3, 4: perfect data at a 1 m scrape
    ],
    "stalled.test.yml": [
        "alertname: LumenPipelineStalled, time: 30m,",  # 1: a late run is not a stall
        "alertname: LumenPipelineMetricsAbsent, time: 45m,",  # 2: silent without data
    ],
    "stage.test.yml": ["alertname: LumenStageFailed, time: 1h42m,"],  # 6: for: 0m
    "slo.test.yml": ["alertname: LumenSLOBurnFast, time: 30m,"],  # 4: pages on a fresh start
    "suppression.test.yml": ["alertname: LumenAlertsSuppressed, time: 2h1m,"],  # 5: not wired
}

Rule = dict[str, Any]

# Plausible wrong fixes of our own rules, and the check that catches each.
MUTATIONS: dict[str, tuple[str, Callable[[Rule], Rule], str, str]] = {
    # GUIDE item 5: the obvious `unless` fix makes firing alerts resolve when the flag goes up
    "unless-flag": (
        "LumenStageFailed",
        lambda rule: {
            **rule,
            "expr": rule["expr"] + " unless on (instance, job) "
            'lumen_alert_suppressed{job!="lumen-bridge"} == 1',
        },
        "suppression.test.yml",
        "alertname: LumenStageFailed, time: 2h1m,",
    ),
    # GUIDE item 6: a ticket on a single evaluation
    "for-0m": (
        "LumenStageFailed",
        lambda rule: {**rule, "for": "0m"},
        "stage.test.yml",
        "alertname: LumenStageFailed, time: 1h42m,",
    ),
    # GUIDE item 1: the seed's 3 h threshold
    "stall-3h": (
        "LumenPipelineStalled",
        lambda rule: {**rule, "expr": "time() - lumen_pipeline_last_run_timestamp > 3 * 3600"},
        "stalled.test.yml",
        "alertname: LumenPipelineStalled, time: 30m,",
    ),
}


def _binary(name: str, package: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: apt-get install {package}"
    return found


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alerting_rules(paths: list[Path] = RULE_FILES) -> list[dict[str, Any]]:
    return [
        rule
        for path in paths
        for group in _load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def _retarget(test_file: Path, rule_files: list[Path], directory: Path) -> Path:
    """Copy a promtool test file into ``directory``, pointing it at other rule files."""
    spec = _load(test_file)
    spec["rule_files"] = [str(path) for path in rule_files]
    if "group_eval_order" in spec:  # recording groups before the alerts that read them
        groups = [group for path in rule_files for group in _load(path)["groups"]]
        groups.sort(key=lambda group: not any("record" in rule for rule in group["rules"]))
        spec["group_eval_order"] = [group["name"] for group in groups]
    target = directory / test_file.name
    target.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="session")
def promtool_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every promtool unit-test run, started at once: ours, on the seed's rules, on mutants."""
    promtool = _binary("promtool", "prometheus")
    jobs: dict[str, Path] = {f"ours/{path.name}": path for path in PROMTOOL_TESTS}
    seed_dir = tmp_path_factory.mktemp("seed")
    for name in SEED_DEFECTS:
        jobs[f"seed/{name}"] = _retarget(PROMTOOL_TESTS_DIR / name, SEED_RULES, seed_dir)
    for mutation, (alert, change, test_name, _) in MUTATIONS.items():
        directory = tmp_path_factory.mktemp(mutation)
        spec = _load(PIPELINE_RULES)
        for group in spec["groups"]:
            group["rules"] = [
                change(rule) if rule.get("alert") == alert else rule for rule in group["rules"]
            ]
        rules = directory / PIPELINE_RULES.name
        rules.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
        jobs[f"{mutation}/{test_name}"] = _retarget(
            PROMTOOL_TESTS_DIR / test_name, [rules], directory
        )
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {
            key: pool.submit(_run, [promtool, "test", "rules", path.name], path.parent)
            for key, path in jobs.items()
        }
        return {key: future.result() for key, future in futures.items()}


# --- Prometheus rules --------------------------------------------------------------------


def test_rules_pass_promtool_check() -> None:
    result = _run([_binary("promtool", "prometheus"), "check", "rules", *map(str, RULE_FILES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_prometheus_config_passes_promtool_check() -> None:
    config = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
    result = _run([_binary("promtool", "prometheus"), "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_alert_names_are_kept_and_new_ones_exist() -> None:
    names = {rule["alert"] for rule in _alerting_rules()}
    assert {
        "LumenPipelineStalled",
        "LumenStageFailed",
        "LumenIntegrityMismatch",
        "LumenSLOBurnFast",
        "LumenPipelineMetricsAbsent",
        "LumenReportMissing",
        "LumenAlertsSuppressed",
        "LumenAlertsSuppressedTooLong",
        "LumenBridgeDown",
    } <= names
    bridge = {name for name in names if name.startswith("LumenBridge")}
    assert len(bridge) >= 5


def test_recording_rules_are_named_level_metric_operations() -> None:
    records = [
        rule["record"]
        for path in RULE_FILES
        for group in _load(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    assert records
    for name in records:
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", name), name


def test_every_alert_has_severity_summary_and_runbook() -> None:
    for rule in _alerting_rules():
        assert rule["labels"]["severity"] in {"page", "ticket", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["runbook_url"].startswith(RUNBOOK_PREFIX), rule["alert"]


def test_pipeline_flag_rules_exclude_the_bridge_gauge() -> None:
    for rule in _alerting_rules():
        if "lumen_alert_suppressed" in rule["expr"]:
            bridge = rule["alert"].startswith("LumenBridge")
            scope = 'job="lumen-bridge"' if bridge else 'job!="lumen-bridge"'
            assert rule["expr"].count("lumen_alert_suppressed{" + scope) == rule["expr"].count(
                "lumen_alert_suppressed"
            ), rule["alert"]


# --- promtool unit tests -----------------------------------------------------------------


@pytest.mark.parametrize("name", [path.name for path in PROMTOOL_TESTS])
def test_promtool_unit_tests_pass(
    promtool_runs: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    result = promtool_runs[f"ours/{name}"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in PROMTOOL_TESTS:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in _alerting_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"


def test_promtool_tests_cover_both_scrape_intervals() -> None:
    intervals = {
        group.get("interval", "1m") for path in PROMTOOL_TESTS for group in _load(path)["tests"]
    }
    assert {"1m", "2m"} <= intervals


@pytest.mark.parametrize("name", sorted(SEED_DEFECTS))
def test_promtool_tests_fail_on_the_seed_rules(
    promtool_runs: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    result = promtool_runs[f"seed/{name}"]
    assert result.returncode != 0
    for check in SEED_DEFECTS[name]:
        assert check in result.stderr, f"{check!r} did not fail on the seed's rules"


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_promtool_tests_catch_wrong_fixes(
    promtool_runs: dict[str, subprocess.CompletedProcess[str]], mutation: str
) -> None:
    _, _, test_name, check = MUTATIONS[mutation]
    result = promtool_runs[f"{mutation}/{test_name}"]
    assert result.returncode != 0
    assert check in result.stderr


# --- RUNBOOK.md --------------------------------------------------------------------------


def _github_slug(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    explicit = re.findall(r'<a id="([^"]+)"></a>', text)
    assert len(explicit) == len(set(explicit)), "duplicate anchors in RUNBOOK.md"
    return set(explicit)


def test_every_runbook_url_points_to_an_anchor_in_runbook_md() -> None:
    anchors = _runbook_anchors()
    for rule in _alerting_rules():
        url = rule["annotations"]["runbook_url"]
        anchor = url.removeprefix(RUNBOOK_PREFIX)
        assert re.fullmatch(r"[a-z0-9-]+", anchor), url
        assert anchor in anchors, f"{rule['alert']}: #{anchor} is not in RUNBOOK.md"
        # the bridge's fallback anchor (the lower-cased alert name) resolves too
        assert rule["alert"].lower() in anchors, rule["alert"]


def test_seed_runbook_anchors_exist() -> None:
    assert {"stalled", "stage-fail", "integrity", "slo-burn"} <= _runbook_anchors()


def test_runbook_links_inside_the_runbook_resolve() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    anchors = _runbook_anchors()
    headings = {_github_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors | headings, target


# --- Alertmanager ------------------------------------------------------------------------


def test_alertmanager_config_passes_amtool_check() -> None:
    result = _run(
        [_binary("amtool", "prometheus-alertmanager"), "check-config", str(ALERTMANAGER_CONFIG)]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=LumenPipelineStalled", "severity=page"], "lumen-bridge"),
        (["alertname=LumenStageFailed", "severity=ticket", "stage=pdf"], "lumen-bridge"),
        (["alertname=LumenAlertsSuppressed", "severity=info"], "lumen-bridge"),
        (["alertname=SomethingElse"], "lumen-bridge"),
        (["alertname=LumenBridgeDown", "severity=page"], "bridge-health-email"),
        (["alertname=LumenBridgeDeadLetters", "severity=ticket"], "bridge-health-email"),
        (["alertname=LumenBridgeSuppressionLeftOn", "severity=ticket"], "bridge-health-email"),
    ],
)
def test_alertmanager_routes(labels: list[str], receiver: str) -> None:
    result = _run(
        [
            _binary("amtool", "prometheus-alertmanager"),
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--verify.receivers={receiver}",
            *labels,
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_config_shape() -> None:
    text = ALERTMANAGER_CONFIG.read_text(encoding="utf-8")
    assert "${" not in text, "Alertmanager does not expand ${VAR}"
    config = yaml.safe_load(text)
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    (webhook,) = receivers["lumen-bridge"]["webhook_configs"]
    assert webhook["url"].endswith("/webhook")
    assert webhook["send_resolved"] is True
    auth = webhook["http_config"]["authorization"]
    assert auth["type"] == "Bearer"
    assert "credentials_file" in auth
    assert "credentials" not in auth
    (email,) = receivers["bridge-health-email"]["email_configs"]
    assert email["send_resolved"] is True
    assert set(receivers["bridge-health-email"]) == {"name", "email_configs"}
    route = config["route"]
    for key in ("group_by", "group_wait", "group_interval", "repeat_interval"):
        assert key in route
    (flag_rule,) = [
        rule
        for rule in config["inhibit_rules"]
        if rule["source_matchers"] == ['alertname="LumenAlertsSuppressed"']
    ]
    assert set(flag_rule["equal"]) == {"instance", "job"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http(url: str, body: Any = None) -> Any:
    """GET (or POST ``body`` as JSON) on the loopback; return the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw.strip().startswith((b"{", b"[")) else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The shipped config in a real Alertmanager on 127.0.0.1 (nothing is sent anywhere)."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "alertmanager is missing: apt-get install prometheus-alertmanager"
    config = _load(ALERTMANAGER_CONFIG)
    closed = f"127.0.0.1:{_free_port()}"
    config["global"]["smtp_smarthost"] = closed
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = "1h"  # no notification leaves during the test
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"http://{closed}/webhook"
            (tmp_path / "token").write_text("test-token\n", encoding="utf-8")
            webhook["http_config"]["authorization"]["credentials_file"] = str(tmp_path / "token")
        for email in receiver.get("email_configs", []):
            (tmp_path / "smtp").write_text("secret\n", encoding="utf-8")
            email["auth_password_file"] = str(tmp_path / "smtp")
    config_path = tmp_path / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _http(f"{url}/-/ready")
                break
            except OSError:
                assert proc.poll() is None, "alertmanager exited"
                assert time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_alertmanager_inhibits_only_the_flagged_pipeline(alertmanager: str) -> None:
    now = datetime.now(UTC)
    runner = {"instance": "runner:9100", "job": "node"}
    other = {"instance": "other:9100", "job": "node"}
    bridge = {"instance": "127.0.0.1:9095", "job": "lumen-bridge"}
    alerts = {
        "source": {"alertname": "LumenAlertsSuppressed", "severity": "info", **runner},
        "stage": {"alertname": "LumenStageFailed", "severity": "ticket", "stage": "pdf", **runner},
        "integrity": {"alertname": "LumenIntegrityMismatch", "severity": "page", **runner},
        "too-long": {"alertname": "LumenAlertsSuppressedTooLong", "severity": "ticket", **runner},
        "other-host": {
            "alertname": "LumenStageFailed",
            "severity": "ticket",
            "stage": "pdf",
            **other,
        },
        "bridge": {"alertname": "LumenBridgeDown", "severity": "page", **bridge},
        "fast": {"alertname": "LumenSLOBurnFast", "severity": "page", **other},
        "slow": {"alertname": "LumenSLOBurnSlow", "severity": "ticket", **other},
    }
    _http(
        f"{alertmanager}/api/v2/alerts",
        [
            {
                "labels": labels,
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(hours=1)).isoformat(),
            }
            for labels in alerts.values()
        ],
    )
    expected = {"stage": True, "integrity": True, "slow": True}
    deadline = time.monotonic() + 10
    while True:
        got = {
            key: bool(alert["status"]["inhibitedBy"])
            for alert in _http(f"{alertmanager}/api/v2/alerts")
            for key, labels in alerts.items()
            if alert["labels"] == labels
        }
        want = {key: expected.get(key, False) for key in alerts}
        if got == want or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got == want


# --- Grafana -----------------------------------------------------------------------------

GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d"}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = dashboard["panels"]
    return panels


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_panels(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids))
    types = set()
    for panel in _panels(dashboard):
        types.add(panel["type"])
        title = panel["title"]
        assert panel["type"] in {"timeseries", "stat", "table"}, title
        assert panel["description"].strip(), title
        assert panel["fieldConfig"]["defaults"]["unit"], title
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], title
            for used in re.findall(r"\$(\w+)", target["expr"]):
                assert f"${used}" in GRAFANA_VARS or used in variables, (title, used)
    assert {"timeseries", "stat", "table"} <= types


def test_dashboard_titles() -> None:
    titles = {json.loads(path.read_text(encoding="utf-8"))["title"] for path in DASHBOARDS}
    assert titles == {"Lumen \u2013 Status & SLO", "lumen-bridge"}


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """Each expr (template variables filled in) must parse in promtool's PromQL parser."""
    exprs: list[str] = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        exprs += [target["expr"] for panel in _panels(dashboard) for target in panel["targets"]]
        for var in dashboard["templating"]["list"]:
            if var["type"] == "query":  # label_values(SELECTOR, label): the selector is PromQL
                match = re.fullmatch(r"label_values\((.+), *\w+\)", var["query"]["query"])
                assert match, var["query"]
                exprs.append(match.group(1))
    rules: list[dict[str, str]] = []
    for expr in exprs:
        for name, value in GRAFANA_VARS.items():
            expr = expr.replace(name, value)
        expr = re.sub(r"\$\w+", ".+", expr)
        rules.append({"record": f"dashboard:query_{len(rules)}:check", "expr": expr})
    rule_file = tmp_path / "dashboard.rules.yml"
    rule_file.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8"
    )
    result = _run([_binary("promtool", "prometheus"), "check", "rules", str(rule_file)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
