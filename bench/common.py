"""What the bench scripts share: ports, a bridge process, databases, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "firing_page.json"
PG_ADMIN = os.environ.get("LUMEN_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "bench-token"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(port: int, path: str, timeout: float = 60) -> None:
    """Poll ``path`` until it answers (any status below 500)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered on port {port} within {timeout} s")
        time.sleep(0.1)


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], port: int, ready: str) -> Iterator[int]:
    """Run ``argv`` until the block ends; yield its PID once ``ready`` answers."""
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    try:
        wait_ready(port, ready)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def listening(argv: list[str], port: int, timeout: float = 30) -> Iterator[None]:
    """Run ``argv`` until the block ends, once something accepts connections on ``port``."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{argv[0]} did not listen on {port}") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def smtp_sink(port: int) -> list[str]:
    """The command of an aiosmtpd server on ``port`` that accepts and drops every message."""
    return [
        sys.executable,
        "-m",
        "aiosmtpd",
        "-n",
        "-c",
        "aiosmtpd.handlers.Sink",
        "-l",
        f"127.0.0.1:{port}",
    ]


def config_with_body_limit(workdir: Path, limit: int) -> Path:
    """The shipped configuration with another ``server.max_body_bytes``."""
    text = (REPO / "config" / "lumen-bridge.yaml").read_text()
    path = workdir / "bench-config.yaml"
    path.write_text(re.sub(r"max_body_bytes: \d+", f"max_body_bytes: {limit}", text))
    return path


@contextlib.contextmanager
def bridge(database_url: str, port: int, config: Path | None = None, **env: str) -> Iterator[int]:
    """`lumen-bridge serve` on ``port`` (the shipped config unless ``config``); yields its PID."""
    settings = {
        "LUMEN_DATABASE_URL": database_url,
        "LUMEN_ALERT_TOKEN": TOKEN,
        "LUMEN_ADMIN_TOKEN": TOKEN,
        **env,
    }
    argv = [sys.executable, "-m", "lumen_bridge", "serve", "--port", str(port)]
    if config is not None:
        argv += ["--config", str(config)]
    with process(argv, settings, port, "/readyz") as pid:
        yield pid


async def _pg(sql: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A new, empty database: a SQLite file in ``workdir`` or a PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        return
    name = f"lumen_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    user_host = PG_ADMIN.split("//", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{user_host}/{name}"
    finally:
        asyncio.run(_pg(f'DROP DATABASE "{name}" WITH (FORCE)'))


def metrics(port: int, *names: str) -> list[float]:
    """Samples of the bridge's /metrics, from one scrape (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    values = []
    for name in names:
        match = re.search(rf"^{re.escape(name)} ([\d.e+]+)$", text, re.M)
        values.append(float(match.group(1)) if match else 0.0)
    return values


def metric(port: int, name: str) -> float:
    """One sample of the bridge's /metrics (0 when absent)."""
    [value] = metrics(port, name)
    return value


def settled_metrics(port: int, *names: str) -> list[float]:
    """Like :func:`metrics`, once two scrapes 0.2 s apart agree (the bridge is idle)."""
    previous = metrics(port, *names)
    while True:
        time.sleep(0.2)
        current = metrics(port, *names)
        if current == previous:
            return current
        previous = current


def family(pid: int) -> list[int]:
    """``pid`` and every process descended from it (the writer, its forkserver, ...)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    """A process's resident set now (``rss``), at its peak (``hwm``) and its proportional
    share (``pss``: shared pages split between the processes that share them), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    found = {
        "rss": re.search(r"VmRSS:\s+(\d+) kB", status),
        "hwm": re.search(r"VmHWM:\s+(\d+) kB", status),
        "pss": re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE),
    }
    return {key: int(match.group(1)) / 1024 for key, match in found.items() if match}


def storm_payload(n: int, prefix: str) -> bytes:
    """One webhook with ``n`` distinct page alerts."""
    body: dict[str, Any] = json.loads(FIXTURE.read_text())
    template = body["alerts"][0]
    body["alerts"] = [
        {
            **template,
            "fingerprint": f"{prefix}-{i}",
            "labels": {**template["labels"], "instance": f"{prefix}-{i}"},
        }
        for i in range(n)
    ]
    return json.dumps(body).encode()
