"""The mail relay is down while pages are queued, then comes up: every page arrives once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.faults.conftest import Launch
from tests.faults.rig import Alertmanager, attempts, check_books, outbox, query, report, until
from tests.faults.rig import webhook as page
from tests.servers import SmtpSink

pytestmark = pytest.mark.faults

PAGES = 12


async def test_pages_queued_while_the_relay_is_down_arrive_once(
    launch: Launch, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    relay = SmtpSink()  # its port is chosen; nothing listens on it until start()
    db = f"sqlite+aiosqlite:///{tmp_path / 'lumen.db'}"
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port), "SMTP_TLS": "none"}
    bridge = await launch(db, **smtp)
    sent = Alertmanager(http, bridge)
    try:
        for i in range(PAGES):
            assert (await sent.send(page(f"relay-{i}")))["queued"] == 1

        async def each_tried_three_times() -> bool:
            [(fewest,)] = await query(db, "SELECT min(attempts) FROM outbox")
            return int(fewest) >= 3

        await until(each_tried_three_times, what="three attempts at every page")
        states = await outbox(db)
        assert set(states) <= {"pending", "in_flight"}, states  # retried, never dead
        relay.start()
        up = time.perf_counter()
        await until(
            lambda: len(relay.messages) >= PAGES, what="every page at the relay once it is up"
        )
        recovered = max(m.at for m in relay.messages) - up
        await until(lambda: _delivered(db, PAGES), what="every page recorded as delivered")
        ids = Counter(str(m.message["Message-ID"]) for m in relay.messages)
        assert len(relay.messages) == PAGES and len(ids) == PAGES, ids  # each page once
    finally:
        relay.stop()
    tries = await attempts(db)
    retries = [t for t in tries if t[1] == "retry"]
    assert [t for t in tries if t[1] == "dead"] == []
    assert len([t for t in tries if t[1] == "delivered"]) == PAGES
    assert all(code is None for _, _, code in retries)  # connection refused: no SMTP reply
    assert await bridge.metric(http, "lumen_bridge_outbox_dead") == 0
    await check_books(db, sent)
    per_page = Counter(key for key, _, _ in tries)
    report(
        "smtp relay down then up",
        pages=PAGES,
        alerts_stored=sent.alerts,
        retries_while_down=len(retries),
        attempts_per_page=f"{min(per_page.values())}-{max(per_page.values())}",
        emails=len(relay.messages),
        distinct_message_ids=len(ids),
        dead=0,
        seconds_from_relay_up_to_last_page=f"{recovered:.2f}",
    )


async def _delivered(db: str, count: int) -> bool:
    return await outbox(db) == {"delivered": count}
