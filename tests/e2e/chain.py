"""The whole chain on 127.0.0.1, built from the shipped assets.

node_exporter (textfile) → Prometheus (monitoring/ rules; only ``for:`` and intervals
shortened) → two clustered Alertmanagers (monitoring/alertmanager; only timings and the
webhook URL and credentials rewritten) → one or two ``lumen-bridge serve`` processes
(the shipped config, through its environment variables) → aiosmtpd and a recording
ticket server. Every process is stopped when the chain closes, also on failure.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiosmtpd.controller import Controller

from tests.procs import free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitoring" / "prometheus" / "rules"
ALERTMANAGER_CONFIG = REPO / "monitoring" / "alertmanager" / "alertmanager.yml"
TOKEN = "e2e-alert-token"
ADMIN = "e2e-admin-token"
T = TypeVar("T")


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"none of {names} is installed (apt-get install prometheus ...)")


def poll(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def http_json(url: str, *, method: str = "GET", token: str | None = None) -> Any:
    request = urllib.request.Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Mailbox:
    """An aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def snapshot(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


@dataclass
class TicketLog:
    """What the recording ticket server received."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.requests)


def ticket_server(log: TicketLog) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with log.lock:
                log.requests.append({"headers": dict(self.headers), "body": body})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _minutes_to_seconds(match: re.Match[str]) -> str:
    """``for: 10m`` becomes ``for: 10s``: sixty times faster, in the same proportions."""
    value, unit = int(match.group(2)), match.group(3)
    seconds = value * {"s": 1, "m": 60, "h": 3600}[unit] // 60
    return f"{match.group(1)}{max(seconds, 1)}s"


def shortened_rules(target: Path) -> list[str]:
    """Copies of the shipped rule files with every ``for:`` sixty times shorter."""
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in sorted(RULES.glob("*.yml")):
        text = re.sub(r"(?m)^(\s+for:\s*)(\d+)([smh])\s*$", _minutes_to_seconds, source.read_text())
        copy = target / source.name
        copy.write_text(text)
        paths.append(str(copy))
    return paths


def alertmanager_config(target: Path, webhook_url: str, token_file: Path) -> Path:
    """The shipped config with short timings and this chain's bridge URL and token file."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())

    def retime(route: dict[str, Any]) -> None:
        # repeat_interval 3s: Alertmanager re-sends firing alerts often, so the bridge's
        # own deduplication (not Alertmanager's) is what keeps pages to one.
        for key, value in (
            ("group_wait", "1s"),
            ("group_interval", "2s"),
            ("repeat_interval", "3s"),
        ):
            if key in route:
                route[key] = value
        for child in route.get("routes", []):
            retime(child)

    retime(config["route"])
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


class Chain:
    """Starts and stops the processes of one end-to-end run."""

    def __init__(self, workdir: Path, database_urls: list[str]) -> None:
        self.workdir = workdir
        self.database_urls = database_urls
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.mailbox = Mailbox()
        self.tickets = TicketLog()
        self.textfile_dir = workdir / "textfile"
        self.textfile_dir.mkdir()
        self.bridge_ports: list[int] = []
        self.alertmanager_ports: list[int] = []
        self.prometheus_port = 0
        self._smtp: Controller | None = None
        self._tickets_server: ThreadingHTTPServer | None = None

    # -- process management -------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env={**os.environ, **(env or {})},
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes.append((name, process, log))

    def close(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._smtp is not None:
            self._smtp.stop()
        if self._tickets_server is not None:
            self._tickets_server.shutdown()
            self._tickets_server.server_close()

    def logs(self) -> str:
        parts = []
        for name, process, log in self.processes:
            tail = log.read_text(errors="replace").splitlines()[-25:]
            parts.append(f"--- {name} (exit {process.poll()}) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- the pipeline side --------------------------------------------------------------
    def emit(self, *args: str) -> None:
        """Run `lumen-bridge emit-metrics` into the textfile directory."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "lumen_bridge",
                "emit-metrics",
                "--dir",
                str(self.textfile_dir),
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    # -- start --------------------------------------------------------------------------
    def start(self) -> None:
        self.emit()  # a healthy first run, so no "metrics absent" alert at start
        self._smtp = Controller(self.mailbox, hostname="127.0.0.1", port=free_port())
        self._smtp.start()
        self._tickets_server = ticket_server(self.tickets)
        token_file = self.workdir / "alert.token"
        token_file.write_text(TOKEN)

        node_port = free_port()
        self.spawn(
            "node_exporter",
            [
                binary("prometheus-node-exporter", "node_exporter"),
                f"--web.listen-address=127.0.0.1:{node_port}",
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={self.textfile_dir}",
            ],
        )
        for i, url in enumerate(self.database_urls):
            port = free_port()
            self.bridge_ports.append(port)
            self.spawn(
                f"bridge{i}",
                [
                    sys.executable,
                    "-m",
                    "lumen_bridge",
                    "serve",
                    "--port",
                    str(port),
                    "--config",
                    str(REPO / "config" / "lumen-bridge.yaml"),
                ],
                env={
                    "LUMEN_DATABASE_URL": url,
                    "LUMEN_ALERT_TOKEN": TOKEN,
                    "LUMEN_ADMIN_TOKEN": ADMIN,
                    "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(self._smtp.port),
                    "SMTP_TLS": "none",
                    "LUMEN_TICKET_URL": (
                        f"http://127.0.0.1:{self._tickets_server.server_port}/api/alerts"
                    ),
                },
            )

        cluster_ports = [free_port(), free_port()]
        self.alertmanager_ports = [free_port(), free_port()]
        for i in range(2):
            bridge = self.bridge_ports[i % len(self.bridge_ports)]
            config = alertmanager_config(
                self.workdir / f"alertmanager{i}.yml",
                f"http://127.0.0.1:{bridge}/webhook",
                token_file,
            )
            self.spawn(
                f"alertmanager{i}",
                [
                    binary("prometheus-alertmanager", "alertmanager"),
                    f"--config.file={config}",
                    f"--storage.path={self.workdir / f'am{i}'}",
                    f"--web.listen-address=127.0.0.1:{self.alertmanager_ports[i]}",
                    f"--cluster.listen-address=127.0.0.1:{cluster_ports[i]}",
                    f"--cluster.advertise-address=127.0.0.1:{cluster_ports[i]}",
                    f"--cluster.peer=127.0.0.1:{cluster_ports[1 - i]}",
                    "--cluster.gossip-interval=100ms",
                    "--cluster.pushpull-interval=1s",
                    "--cluster.settle-timeout=5s",
                ],
            )

        self.prometheus_port = free_port()
        prometheus_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": shortened_rules(self.workdir / "rules"),
            "alerting": {
                "alertmanagers": [
                    {
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{p}" for p in self.alertmanager_ports]}
                        ]
                    }
                ]
            },
            "scrape_configs": [
                {
                    "job_name": "lumen-pipeline",
                    "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}],
                },
                {
                    "job_name": "lumen-bridge",
                    "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in self.bridge_ports]}],
                },
            ],
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(prometheus_config))
        self.spawn(
            "prometheus",
            [
                binary("prometheus"),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                "--rules.alert.resend-delay=1s",
            ],
        )
        self.wait_settled()

    def wait_settled(self) -> None:
        """Every process answers and the Alertmanager cluster has settled with two peers."""
        for port in self.bridge_ports:
            poll(f"bridge {port} ready", lambda p=port: reachable(f"http://127.0.0.1:{p}/readyz"))
        poll(
            "prometheus ready",
            lambda: reachable(f"http://127.0.0.1:{self.prometheus_port}/-/ready"),
        )
        for port in self.alertmanager_ports:

            def settled(p: int = port) -> bool:
                try:
                    status = http_json(f"http://127.0.0.1:{p}/api/v2/status")
                except (urllib.error.URLError, OSError):
                    return False
                cluster = status.get("cluster", {})
                return cluster.get("status") == "ready" and len(cluster.get("peers", [])) == 2

            poll(f"alertmanager {port} cluster settled", settled)
        poll("prometheus scraping the pipeline and the bridges", self._targets_up)

    def _targets_up(self) -> bool:
        data = http_json(f"http://127.0.0.1:{self.prometheus_port}/api/v1/targets")
        targets = data["data"]["activeTargets"]
        return len(targets) == 1 + len(self.bridge_ports) and all(
            t["health"] == "up" for t in targets
        )

    # -- observations -------------------------------------------------------------------
    def prometheus_alerts(self, state: str = "firing") -> list[dict[str, Any]]:
        data = http_json(f"http://127.0.0.1:{self.prometheus_port}/api/v1/alerts")
        return [a for a in data["data"]["alerts"] if a["state"] == state]

    def alertmanager_alerts(self, port: int | None = None) -> list[dict[str, Any]]:
        port = port or self.alertmanager_ports[0]
        result: list[dict[str, Any]] = http_json(f"http://127.0.0.1:{port}/api/v2/alerts")
        return result

    def rule_evaluations_after(self, moment: float, count: int = 3) -> bool:
        """Whether every rule group has been evaluated ``count`` intervals after ``moment``."""
        return time.time() > moment + count and all(
            _parse_time(g["lastEvaluation"]) > moment + count - 1
            for g in http_json(f"http://127.0.0.1:{self.prometheus_port}/api/v1/rules")["data"][
                "groups"
            ]
        )

    def incidents(self, bridge: int = 0) -> list[dict[str, Any]]:
        port = self.bridge_ports[bridge]
        result: list[dict[str, Any]] = http_json(f"http://127.0.0.1:{port}/incidents", token=ADMIN)[
            "incidents"
        ]
        return result


def _parse_time(text: str) -> float:
    """Prometheus' RFC 3339 time (nanosecond fractions) as a UNIX time."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed).timestamp()


@contextlib.contextmanager
def running_chain(workdir: Path, database_urls: list[str]) -> Iterator[Chain]:
    """A started chain, closed afterwards; process logs are printed when the body fails."""
    chain = Chain(workdir, database_urls)
    try:
        chain.start()
        yield chain
    except BaseException:
        print(chain.logs())
        raise
    finally:
        chain.close()
