"""The writer process: a crashed child costs a 503 at most, never half a batch."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pickle
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.exc import OperationalError

from lumen_bridge.api.keys import INGEST
from lumen_bridge.ingest.writer import _portable
from tests.conftest import AppFactory, auth, payload, post
from tests.helpers import count_events, write_lock_held


def exists(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie too: not reaped yet)."""
    return Path(f"/proc/{pid}").exists()


def kill(pid: int) -> None:
    """SIGKILL ``pid`` and wait until it is reaped (by the forkserver: poll, not wait)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while exists(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived SIGKILL"
        time.sleep(0.01)


async def test_a_writer_killed_between_batches_is_replaced(client: TestClient[Any, Any]) -> None:
    ingest = client.app[INGEST]
    first = ingest.writer_pid
    assert first is not None
    assert (await post(client, payload()))["queued"] == 1
    kill(first)
    again = await post(client, payload())  # the new child sees what the old one committed
    assert again["deduplicated"] == 1
    second = ingest.writer_pid
    assert second not in (None, first)
    await client.close()  # the child stops with the app
    await asyncio.sleep(0.2)  # and is reaped by the forkserver
    assert not exists(second)


async def test_the_writer_outlives_signals_meant_for_its_group(
    client: TestClient[Any, Any],
) -> None:
    """Ctrl-C or a TERM to the process group: the serving process drains, then closes the pipe."""
    pid = client.app[INGEST].writer_pid
    assert pid is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        os.kill(pid, signum)
    await asyncio.sleep(0.1)
    assert (await post(client, payload()))["queued"] == 1
    assert client.app[INGEST].writer_pid == pid


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_batch_cut_short_by_a_crash_is_refused_and_leaves_nothing(
    make_client: AppFactory, db_url: str
) -> None:
    db = Path(db_url.split("///", 1)[1])
    client = await make_client()
    storm = json.dumps(payload(fingerprint="storm", n=5000)).encode()
    headers = auth() | {"Content-Type": "application/json"}

    def send() -> Any:  # a large body streams from a file-like object
        return client.post("/webhook", data=io.BytesIO(storm), headers=headers)

    sending = asyncio.create_task(send())
    await asyncio.wait_for(write_lock_held(db, 0.05), 30)
    pid = client.app[INGEST].writer_pid
    assert pid is not None
    kill(pid)
    response = await sending
    assert response.status == 503, await response.text()
    assert await count_events(client) == 0  # rolled back with the child
    retried = await send()  # Alertmanager's retry, on a new child
    assert retried.status == 200
    assert (await retried.json())["queued"] == 5000
    assert await count_events(client) == 5000


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_thread_writer_decides_the_same(make_client: AppFactory) -> None:
    client = await make_client(LUMEN_DATABASE_WRITER="thread")
    assert client.app[INGEST].writer_pid is None
    assert (await post(client, payload()))["queued"] == 1
    assert (await post(client, payload()))["deduplicated"] == 1


def crossed(exc: Exception) -> Exception:
    """``exc`` as the writer's answer carries it back."""
    back: Exception = pickle.loads(pickle.dumps(_portable(exc)))  # noqa: S301 - our own bytes
    return back


def test_database_errors_cross_the_pipe_with_their_class() -> None:
    class Unpicklable(Exception):
        def __reduce__(self) -> Any:
            raise TypeError("cannot pickle this driver error")

    error = OperationalError("INSERT INTO incidents ...", {"big": "x" * 1000}, Unpicklable("gone"))
    back = crossed(error)
    assert isinstance(back, OperationalError)  # still "database unavailable" (503)
    assert "Unpicklable: gone" in str(back)
    assert "x" * 1000 not in str(back)  # a storm's parameters stay behind
    assert isinstance(crossed(ValueError("bad")), ValueError)
