"""PostgreSQL is lost mid-run and comes back: the bridge reaches it through a TCP proxy that
the test kills (every connection reset, new ones refused) and starts again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest

from tests.conftest import new_pg_database
from tests.faults.conftest import Launch
from tests.faults.peers import TcpProxy
from tests.faults.rig import Alertmanager, check_books, outbox, report, until, webhook
from tests.servers import SmtpSink

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

WEBHOOKS = 48  # of two pages each, one e-mail per webhook
SENDERS = 4  # Alertmanager's concurrent deliveries
OUTAGE = 2.0  # seconds PostgreSQL stays unreachable


async def test_postgres_lost_mid_run_and_back(launch: Launch, http: aiohttp.ClientSession) -> None:
    relay = SmtpSink().start()
    with new_pg_database() as direct:
        server = direct.split("@", 1)[1].split("/", 1)[0]  # host:port of the real server
        host, _, port = server.partition(":")
        proxy = TcpProxy(host, int(port or 5432))
        await proxy.start()
        try:
            via_proxy = direct.replace(f"@{server}/", f"@127.0.0.1:{proxy.port}/", 1)
            smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(relay.port), "SMTP_TLS": "none"}
            bridge = await launch(via_proxy, **smtp)
            sent = Alertmanager(http, bridge)
            bodies = [webhook(f"pg-{i}", n=2) for i in range(WEBHOOKS)]
            outage: dict[str, float] = {}

            async def alertmanager(lane: int) -> None:
                for body in bodies[lane::SENDERS]:
                    await sent.send(body)

            async def lose_postgres() -> None:
                await until(lambda: len(sent.answers) >= WEBHOOKS // 4, what="a quarter sent")
                await proxy.kill()
                outage["down"] = time.monotonic()
                await until(
                    lambda: (
                        time.monotonic() - outage["down"] >= OUTAGE
                        and sent.codes[503] >= 2 * SENDERS
                    ),
                    what="an outage with webhooks refused",
                )
                await proxy.start()
                outage["up"] = time.monotonic()

            await asyncio.gather(*(alertmanager(lane) for lane in range(SENDERS)), lose_postgres())
            await until(
                lambda: _delivered(direct, WEBHOOKS), within=60, what="every page delivered"
            )
            twice = await check_books(direct, sent)
            dead = await bridge.metric(http, "lumen_bridge_outbox_dead")
        finally:
            await proxy.close()
            relay.stop()
    assert set(sent.codes) == {200, 503}, sent.codes  # never a 500, always an answer
    assert dead == 0
    pages = Counter(str(m.message["Message-ID"]) for m in relay.messages)
    assert len(pages) == WEBHOOKS  # every page arrived
    # At least once: a page sent while its result could not be recorded goes again, with
    # the same Message-ID, once its lease ends (docs/delivery.md, "Crashes and shutdown").
    assert max(pages.values()) <= 2, pages
    first_after = min(t for t in sent.accepted_at if t > outage["up"])
    report(
        "postgresql lost mid-run and back",
        webhooks=WEBHOOKS,
        alerts_answered_200=sent.alerts,
        answered_503=sent.codes[503],
        outage_s=f"{outage['up'] - outage['down']:.2f}",
        first_200_after_restore_s=f"{first_after - outage['up']:.2f}",
        committed_but_answered_503=twice,
        pages=len(pages),
        pages_sent_twice=sum(1 for n in pages.values() if n > 1),
        dead=0,
    )


async def _delivered(url: str, count: int) -> bool:
    return await outbox(url) == {"delivered": count}
