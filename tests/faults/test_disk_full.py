"""SQLite's disk fills up: the database lives on a 2 MiB tmpfs that a ballast file fills.
Webhooks are then refused with 503 (never 500) and leave nothing half-written; once the
ballast is deleted they are accepted again."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.faults.conftest import Launch
from tests.faults.peers import Tickets
from tests.faults.rig import Alertmanager, check_books, outbox, query, report, until, webhook

pytestmark = pytest.mark.faults

ALERTS = 40  # per webhook: one ticket, the rest for the default receiver (which only records)
ROOM = 256 * 1024  # bytes the ballast leaves free


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards (lazily: a killed process may still hold it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: the disk-full case needs a 2 MiB tmpfs")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a 2 MiB tmpfs here (needs root and mount permission): "
            + (mounted.stderr.strip() or f"exit {mounted.returncode}")
        )
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def fill(disk: Path, room: int) -> Path:
    """A ballast file that leaves ``room`` bytes free on ``disk``."""
    stats = os.statvfs(disk)
    ballast = disk / "ballast"
    with ballast.open("wb") as out:
        out.write(b"\0" * max(stats.f_bavail * stats.f_frsize - room, 0))
    return ballast


def mixed(i: int) -> dict[str, Any]:
    """A webhook of ``ALERTS`` alerts, the first of them a ticket."""
    body = webhook(f"disk-{i}", "info", n=ALERTS)
    body["alerts"][0]["labels"]["severity"] = "ticket"
    return body


async def until_refused(sent: Alertmanager, start: int, refusals: int) -> list[dict[str, Any]]:
    """Send new webhooks once each until ``refusals`` were answered 503; those bodies."""
    refused: list[dict[str, Any]] = []
    for i in range(start, start + 200):
        body = mixed(i)
        if await sent.try_once(body) == 503:
            refused.append(body)
            if len(refused) == refusals:
                return refused
    raise AssertionError(f"the disk never filled: {sent.codes}")


async def test_disk_full_answers_503_and_recovers_when_space_is_freed(
    small_disk: Path, launch: Launch, tickets: Tickets, http: aiohttp.ClientSession
) -> None:
    db = f"sqlite+aiosqlite:///{small_disk / 'lumen.db'}"
    bridge = await launch(db, LUMEN_TICKET_URL=tickets.url)
    sent = Alertmanager(http, bridge)
    ballast = fill(small_disk, ROOM)
    refused = await until_refused(sent, 0, refusals=3)
    accepted_before = len(sent.accepted)
    assert accepted_before > 0  # the room left took some webhooks before it ran out
    assert set(sent.codes) <= {200, 503}, sent.codes  # never a 500, always an answer
    await check_books(db, sent)  # the refused webhooks left nothing behind
    [(integrity,)] = await query(db, "PRAGMA integrity_check")
    assert integrity == "ok"

    ballast.unlink()  # space is freed
    freed = time.monotonic()
    for body in refused:  # Alertmanager's retries: decided now for the first time
        answer = await sent.send(body)
        assert (answer["queued"], answer["ignored"], answer["deduplicated"]) == (1, ALERTS - 1, 0)
    first_ok = sent.accepted_at[accepted_before] - freed
    for i in range(1000, 1005):
        assert await sent.try_once(mixed(i)) == 200
    await until(
        lambda: _delivered(db, len(sent.accepted)), within=60, what="every ticket delivered"
    )
    assert await check_books(db, sent) == 0
    by_key = tickets.by_key()
    assert len(by_key) == len(sent.accepted)
    # At least once: a ticket whose result could not be recorded on the full disk is sent
    # again with the same key once its lease ends (docs/delivery.md).
    assert all(1 <= len(hits) <= 2 for hits in by_key.values())
    assert await bridge.metric(http, "lumen_bridge_outbox_dead") == 0
    report(
        "sqlite disk full (2 MiB tmpfs)",
        accepted_before_full=accepted_before,
        answered_503=sent.codes[503],
        answered_500=sent.codes[500],
        half_written=0,
        integrity="ok",
        first_200_after_space_freed_s=f"{first_ok:.2f}",
        alerts_stored=sent.alerts,
        tickets=len(by_key),
        tickets_sent_twice=sum(1 for hits in by_key.values() if len(hits) == 2),
        dead=0,
    )


async def test_readyz_reports_the_full_disk_and_its_recovery(
    small_disk: Path, launch: Launch, http: aiohttp.ClientSession
) -> None:
    db = f"sqlite+aiosqlite:///{small_disk / 'lumen.db'}"
    bridge = await launch(db)
    sent = Alertmanager(http, bridge)
    ballast = fill(small_disk, ROOM)
    [refused] = await until_refused(sent, 0, refusals=1)
    status, body = await bridge.get(http, "/readyz")
    assert status == 503, body
    ballast.unlink()
    await sent.send(refused)
    status, body = await bridge.get(http, "/readyz")
    assert status == 200, body


async def _delivered(db: str, count: int) -> bool:
    return await outbox(db) == {"delivered": count}
