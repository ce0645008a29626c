"""Real processes for tests: free ports and a running `lumen-bridge serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BRIDGE = [sys.executable, "-m", "lumen_bridge"]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now, and never the same twice in
    one test run (the kernel may offer a port again once it is closed, before the process it
    was meant for binds it: two servers of one chain were once given the same port)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@contextmanager
def serve(cwd: Path, env: dict[str, str], *args: str) -> Iterator[str]:
    """Run `lumen-bridge serve` until the block ends; yield its base URL once it is ready."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*BRIDGE, "serve", "--port", str(port), *args],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:  # not listening yet, or 503 while it starts
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve was not ready within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
