"""kill -9 of the bridge (the serving process and its writer process at once) while tickets
are in flight and a large webhook is being committed, then a restart on the same database
with a pending outbox."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from lumen_bridge.delivery.worker import CONCURRENCY
from tests.faults.conftest import Launch
from tests.faults.peers import Hit, Reply, Tickets, always_ok
from tests.faults.rig import Alertmanager, check_books, outbox, query, report, until, webhook
from tests.helpers import write_lock_held
from tests.servers import SmtpSink

pytestmark = pytest.mark.faults

IN_FLIGHT = CONCURRENCY  # the worker's concurrent deliveries (16)
TICKETS = IN_FLIGHT + 4  # 4 wait in the outbox
LARGE = 8000  # alerts in the webhook being committed at the kill (about 3.8 MB)


async def test_kill_9_mid_delivery_and_mid_commit_loses_nothing_answered(
    launch: Launch, tickets: Tickets, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    def hang(hit: Hit) -> Reply:  # a ticket system that takes a minute to answer
        return Reply(delay=60.0)

    tickets.plan = hang
    relay = SmtpSink().start()
    path = tmp_path / "lumen.db"
    db = f"sqlite+aiosqlite:///{path}"
    smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port), "SMTP_TLS": "none"}
    try:
        bridge = await launch(
            db, ticket_timeout="30s", max_body_bytes=16 << 20, LUMEN_TICKET_URL=tickets.url, **smtp
        )
        sent = Alertmanager(http, bridge)
        for i in range(TICKETS):
            assert (await sent.send(webhook(f"kill-{i}", "ticket")))["queued"] == 1
        await until(lambda: len(tickets.hits) >= IN_FLIGHT, what="every delivery slot taken")
        large = webhook("kill-large", "page", n=LARGE)
        posting = asyncio.create_task(sent.try_once(large))
        await asyncio.wait_for(write_lock_held(path, 0.05), 60)
        await bridge.kill()
        killed = time.monotonic()
        in_flight = {hit.key for hit in tickets.hits}
        assert len(in_flight) == len(tickets.in_flight()) == IN_FLIGHT  # none answered yet
        assert await posting is None  # the connection died with the bridge: no answer
        [(stored,)] = await query(db, "SELECT count(*) FROM alert_events")
        assert stored == TICKETS  # nothing of the webhook cut short by the kill
        assert await outbox(db) == {"in_flight": IN_FLIGHT, "pending": TICKETS - IN_FLIGHT}

        tickets.plan = always_ok
        restart = await bridge.start()
        retried = time.monotonic()
        answer = await sent.send(large)  # Alertmanager's retry, to the restarted bridge
        commit = time.monotonic() - retried
        assert (answer["queued"], answer["deduplicated"]) == (LARGE, 0)
        await until(
            lambda: _delivered(db, TICKETS + 1), within=60, what="every notification delivered"
        )
        recovered = time.monotonic() - killed
        by_key = tickets.by_key()
        assert len(by_key) == TICKETS
        twice = {key for key, hits in by_key.items() if len(hits) == 2}
        assert twice == in_flight  # in flight at the kill: sent again, with the same key
        assert all(len(hits) <= 2 and hits[-1].processed for hits in by_key.values())
        [mail] = relay.messages  # the large webhook's page, once
        assert str(mail.message["Subject"]).startswith(f"[FIRING:{LARGE}]")
        assert await check_books(db, sent) == 0
        assert await bridge.metric(http, "lumen_bridge_outbox_dead") == 0
    finally:
        relay.stop()
    report(
        "kill -9 mid-delivery and mid-commit",
        alerts_answered_200=sent.alerts,
        stored_after_kill=stored,
        large_webhook_retried=f"queued {LARGE}",
        large_webhook_answered_in_s=f"{commit:.2f}",
        tickets=TICKETS,
        sent_twice_same_key=len(twice),
        pages=1,
        dead=0,
        restart_s=f"{restart:.2f}",
        seconds_from_kill_to_all_delivered=f"{recovered:.2f}",
    )


async def _delivered(db: str, count: int) -> bool:
    return await outbox(db) == {"delivered": count}
