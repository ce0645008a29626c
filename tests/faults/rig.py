"""The bridge as operators run it (``python -m lumen_bridge serve``, its own config and
environment, its own process group), an Alertmanager that retries, and the books a fault
test closes with: what was answered 200 against what the database holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN, ALERT_TOKEN, payload
from tests.procs import BRIDGE, free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED_CONFIG = REPO / "config" / "lumen-bridge.yaml"
FAST_OUTBOX = {"initial_backoff": "100ms", "max_backoff": "1s", "lease": "2s"}
START_WITHIN = 60.0  # seconds for `serve` to answer /readyz on a busy machine


def write_config(
    directory: Path, *, ticket_timeout: str | None = None, max_body_bytes: int | None = None
) -> Path:
    """A copy of the shipped configuration with short retries (``FAST_OUTBOX``)."""
    config = yaml.safe_load(SHIPPED_CONFIG.read_text())
    config["outbox"].update(FAST_OUTBOX)
    if ticket_timeout is not None:
        for receiver in config["receivers"]:
            if receiver["type"] == "ticket":
                receiver["timeout"] = ticket_timeout
    if max_body_bytes is not None:
        config["server"]["max_body_bytes"] = max_body_bytes
    path = directory / "lumen-bridge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def webhook(fingerprint: str, severity: str = "page", n: int = 1) -> dict[str, Any]:
    """A version-4 webhook of ``n`` alerts (fingerprint ``fingerprint``, or ``-0``, ``-1``...
    after it), routed by ``severity``: ``page`` e-mail, ``ticket``, anything else ``default``."""
    body = payload(fingerprint=fingerprint, labels={"severity": severity}, n=n)
    body["groupKey"] = f'{{}}:{{fault="{fingerprint}"}}'
    return body


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` is still running (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                return True
    return False


class Bridge:
    """One ``lumen-bridge serve`` on a fixed port, in a process group of its own (with its
    writer process): :meth:`kill` is a kill -9 of the whole service."""

    def __init__(self, workdir: Path, config: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.config = config
        self.env = {"LUMEN_ALERT_TOKEN": ALERT_TOKEN, "LUMEN_ADMIN_TOKEN": ADMIN_TOKEN, **env}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> float:
        """Start and wait until ``/readyz`` answers 200; the seconds that took."""
        began = time.monotonic()
        process = self._spawn()
        async with aiohttp.ClientSession() as http:
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"serve exited {process.returncode}:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return time.monotonic() - began
                if time.monotonic() - began > START_WITHIN:
                    raise AssertionError(f"serve not ready in {START_WITHIN} s:\n{self.tail()}")
                await asyncio.sleep(0.05)

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start ``serve`` in a new session, its output in a new log file."""
        log = self.workdir / f"bridge-{self.port}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [*BRIDGE, "serve", "--config", str(self.config), "--port", str(self.port)],
                cwd=self.workdir,
                env={**os.environ, **self.env},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    async def kill(self) -> None:
        """SIGKILL the bridge and its writer process at once; return once all are gone."""
        assert self.process is not None
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while _group_alive(group):
            assert time.monotonic() < deadline, f"process group {group} outlived SIGKILL"
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop as a service manager does (TERM, then KILL after 20 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(self.process.wait, 20)
        await self.kill()

    def tail(self, lines: int = 30) -> str:
        """The end of every log of this bridge, for a failure message."""
        parts = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name} ---\n" + "\n".join(text))
        return "\n".join(parts)

    async def get(self, http: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
        """GET ``path`` as an admin: the status and the JSON body."""
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with http.get(f"{self.url}{path}", headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def metric(self, http: aiohttp.ClientSession, name: str, **labels: str) -> float:
        """One sample of ``/metrics`` (0 when the series does not exist)."""
        async with http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                wanted = all(sample.labels.get(k) == v for k, v in labels.items())
                if sample.name == name and wanted:
                    return float(sample.value)
        return 0.0


@dataclass
class Alertmanager:
    """Sends webhooks as Alertmanager does: a 503 or a refused connection is sent again
    (after ``pause``) until the bridge answers 200; any other answer fails the test."""

    http: aiohttp.ClientSession
    bridge: Bridge
    pause: float = 0.1
    codes: Counter[int | str] = field(default_factory=Counter)
    accepted: list[dict[str, Any]] = field(default_factory=list)  # every body answered 200
    answers: list[dict[str, int]] = field(default_factory=list)
    accepted_at: list[float] = field(default_factory=list)  # time.monotonic() of each 200

    async def try_once(self, body: dict[str, Any]) -> int | None:
        """POST ``body`` once: 200 or 503 (None: no answer); anything else fails."""
        headers = {"Authorization": f"Bearer {ALERT_TOKEN}", "Content-Type": "application/json"}
        data = io.BytesIO(json.dumps(body).encode())  # streamed: a storm's body is megabytes
        try:
            async with self.http.post(
                f"{self.bridge.url}/webhook", data=data, headers=headers
            ) as response:
                self.codes[response.status] += 1
                if response.status == 200:
                    self.answers.append(await response.json())
                    self.accepted.append(body)
                    self.accepted_at.append(time.monotonic())
                    return 200
                text = await response.text()
                assert response.status == 503, f"webhook answered {response.status}: {text}"
                assert "Traceback" not in text
                return 503
        except aiohttp.ClientError:
            self.codes["no answer"] += 1
            return None

    async def send(self, body: dict[str, Any], within: float = 60.0) -> dict[str, int]:
        """POST ``body`` until it is answered 200; the answer."""
        deadline = time.monotonic() + within
        while await self.try_once(body) != 200:
            assert time.monotonic() < deadline, f"not accepted within {within} s: {self.codes}"
            await asyncio.sleep(self.pause)
        return self.answers[-1]

    @property
    def alerts(self) -> int:
        """Alerts in the webhooks answered 200."""
        return sum(len(body["alerts"]) for body in self.accepted)

    @property
    def fingerprints(self) -> set[str]:
        return {alert["fingerprint"] for body in self.accepted for alert in body["alerts"]}


async def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the bridge's database, read directly (not through the bridge, nor
    through a proxy in front of it)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]

        def run() -> list[tuple[Any, ...]]:
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection:
                return connection.execute(sql).fetchall()

        return await asyncio.to_thread(run)
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql", 1))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def outbox(url: str) -> dict[str, int]:
    """How many outbox rows are in each state."""
    rows = await query(url, "SELECT status, count(*) FROM outbox GROUP BY status")
    return {status: int(count) for status, count in rows}


async def attempts(url: str) -> list[tuple[str, str, int | None]]:
    """(Idempotency-Key, result, status code) of every delivery attempt, in order."""
    rows = await query(
        url,
        "SELECT o.idempotency_key, a.result, a.status_code FROM delivery_attempts a "
        "JOIN outbox o ON o.id = a.outbox_id ORDER BY a.id",
    )
    return [(key, result, code) for key, result, code in rows]


async def check_books(url: str, sent: Alertmanager) -> int:
    """Every alert answered 200 is stored, and decided once: each fingerprint has exactly one
    event that is not a repeat, and nothing unanswered is stored. Returns how many alerts were
    stored twice because a try answered 503 had in fact committed (its retry is a repeat)."""
    events = await query(url, "SELECT fingerprint, outcome FROM alert_events")
    stored = {fingerprint for fingerprint, _ in events}
    decided = Counter(f for f, outcome in events if outcome != "deduplicated")
    assert stored == sent.fingerprints, "stored alerts differ from those answered 200"
    assert all(decided[f] == 1 for f in sent.fingerprints), "an alert was decided twice or never"
    twice = len(events) - sent.alerts
    retried = sum(a["deduplicated"] for a in sent.answers)
    assert twice == retried, f"{twice} extra events, {retried} repeats answered"
    return twice


async def until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    within: float = 30.0,
    what: str = "the condition",
) -> float:
    """Poll ``check`` every 50 ms until it holds; the seconds that took. Fails after
    ``within`` seconds."""
    began = time.monotonic()
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return time.monotonic() - began
        assert time.monotonic() - began < within, f"{what} did not hold within {within} s"
        await asyncio.sleep(0.05)


def report(case: str, **figures: object) -> None:
    """One summary line per case (``pytest -s`` shows them; docs/RELIABILITY.md quotes them)."""
    print(f"\nFAULT {case}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
