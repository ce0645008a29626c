"""Issue 20's judged chain with the real parts: one real Alertmanager posting to a
``lumen-bridge serve`` process that pages through an SMTP sink; the console in Debian's
chromium shows the incident's timeline; a silence added with the real amtool against the
bridge holds the second alert, and expiring it in the console replays it exactly once;
explain answers what a post would, without storing anything.

Run alone with ``pytest -m e2e tests/e2e/test_console_chain.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import yaml
from playwright.async_api import Page, expect

from tests.procs import free_port, serve
from tests.servers import SmtpSink
from tests.web_helpers import CHROMIUM, chromium, sign_in

REPO = Path(__file__).resolve().parents[2]
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")
ALERT_TOKEN = "console-chain-alert-token"
ADMIN_TOKEN = "console-chain-admin-token"
ALERT = "LumenIntegrityMismatch"
T = TypeVar("T")


def _missing() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"chromium ({CHROMIUM})")
    if shutil.which("amtool") is None:
        missing.append("amtool")
    if not ALERTMANAGER.exists():
        missing.append(f"prometheus-alertmanager ({ALERTMANAGER})")
    return missing


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        bool(_missing()),
        reason=f"the console chain needs {', '.join(_missing())} "
        "(apt-get install chromium prometheus-alertmanager)",
    ),
]


async def until(what: str, check: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """Await ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


def text_of(message: EmailMessage) -> str:
    """The subject and every decoded text part of ``message``."""
    parts = [str(message["Subject"])]
    parts += [
        str(part.get_content()) for part in message.walk() if part.get_content_maintype() == "text"
    ]
    return "\n".join(parts)


@contextlib.contextmanager
def alertmanager(workdir: Path, webhook_url: str) -> Iterator[str]:
    """One Alertmanager (no cluster) sending every alert to ``webhook_url``; its base URL."""
    token_file = workdir / "alert.token"
    token_file.write_text(ALERT_TOKEN)
    config = {
        "route": {
            "receiver": "lumen",
            "group_by": ["alertname", "instance"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "lumen",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
                        },
                    }
                ],
            }
        ],
    }
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log = workdir / "alertmanager.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(ALERTMANAGER),
                f"--config.file={config_path}",
                f"--storage.path={workdir / 'am'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    except BaseException:
        print("--- alertmanager ---\n" + log.read_text(errors="replace")[-4000:])
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Chain:
    """The running parts and the HTTP calls the test makes to them."""

    def __init__(self, http: aiohttp.ClientSession, bridge: str, am: str, sink: SmtpSink):
        self.http, self.bridge, self.am, self.sink = http, bridge, am, sink
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def am_ready(self) -> bool:
        try:
            async with self.http.get(f"{self.am}/-/ready") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def fire(self, instance: str) -> None:
        """Post one firing alert to Alertmanager's own API."""
        alert = {
            "labels": {"alertname": ALERT, "severity": "page", "instance": instance},
            "annotations": {"summary": f"Remote integrity mismatch on {instance}"},
            "startsAt": datetime.now(UTC).isoformat(),
            "generatorURL": "http://127.0.0.1:9090/graph",
        }
        async with self.http.post(f"{self.am}/api/v2/alerts", json=[alert]) as response:
            assert response.status == 200, await response.text()

    async def incidents(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.bridge}/incidents", headers=self.admin) as response:
            assert response.status == 200, await response.text()
            found: list[dict[str, Any]] = (await response.json())["incidents"]
            return found

    async def incident(self, instance: str) -> dict[str, Any] | None:
        for incident in await self.incidents():
            if incident["labels"].get("instance") == instance:
                return incident
        return None

    def pages(self) -> list[str]:
        """Every e-mail the sink got, as text."""
        return [text_of(m.message) for m in self.sink.messages]

    async def post(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(f"{self.bridge}{path}", json=body, headers=headers) as response:
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer


async def amtool(bridge: str, http_config: Path, *args: str) -> str:
    """Run the real amtool against the bridge with the admin token; its stdout."""
    process = await asyncio.create_subprocess_exec(
        "amtool",
        f"--alertmanager.url={bridge}",
        f"--http.config.file={http_config}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


def webhook_like_alertmanager(am: str, instance: str) -> dict[str, Any]:
    """A webhook of one firing alert, shaped as Alertmanager 0.25 posts it."""
    labels = {"alertname": ALERT, "instance": instance, "severity": "page"}
    annotations = {"summary": f"Remote integrity mismatch on {instance}"}
    return {
        "receiver": "lumen",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": "c0ffee0000remote",
            }
        ],
        "groupLabels": {"alertname": ALERT, "instance": instance},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": am,
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{ALERT}", instance="{instance}"}}',
        "truncatedAlerts": 0,
    }


def print_bridge_logs(workdir: Path) -> None:
    """The tail of the bridge's log, for a failed run."""
    for log in workdir.glob("serve-*.log"):
        print(f"--- {log.name} ---\n" + log.read_text(errors="replace")[-4000:])


async def test_alertmanager_console_amtool_and_explain_judge_one_chain(tmp_path: Path) -> None:
    started = time.monotonic()
    sink = SmtpSink().start()
    env = {
        "LUMEN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bridge.db'}",
        "LUMEN_ALERT_TOKEN": ALERT_TOKEN,
        "LUMEN_ADMIN_TOKEN": ADMIN_TOKEN,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "SMTP_TLS": "none",
        "LUMEN_ALERTMANAGER_URLS": "",
    }
    config = str(REPO / "config" / "lumen-bridge.yaml")
    try:
        with (
            serve(tmp_path, env, "--config", config) as bridge,
            alertmanager(tmp_path, f"{bridge}/webhook") as am,
        ):
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                    chain = Chain(http, bridge, am, sink)
                    await until("Alertmanager ready", chain.am_ready)
                    await judge(chain, tmp_path)
            except BaseException:
                print_bridge_logs(tmp_path)
                raise
    finally:
        sink.stop()
    print(f"\nconsole chain: {time.monotonic() - started:.1f} s")


async def judge(chain: Chain, workdir: Path) -> None:
    # 1-2. Alertmanager posts the first alert; the bridge opens an incident and pages once
    await chain.fire("remote-a")
    first = await until("the incident of remote-a", lambda: chain.incident("remote-a"))

    async def one_page() -> bool:
        return len(chain.pages()) == 1

    await until("the first page", one_page)
    assert "remote-a" in chain.pages()[0]

    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()
        await console_timeline(page, chain.bridge, first["id"])

        # 4. a silence added with amtool, against the bridge, holds the second alert
        http_config = workdir / "amtool-http.yml"
        http_config.write_text(f"authorization:\n  type: Bearer\n  credentials: {ADMIN_TOKEN}\n")
        silence_id = (
            await amtool(
                chain.bridge,
                http_config,
                "silence",
                "add",
                "instance=remote-b",
                "--comment=remote-b is being rebuilt",
                "-d",
                "1h",
            )
        ).strip()
        assert len(silence_id) == 36, silence_id
        await chain.fire("remote-b")

        async def held() -> dict[str, Any] | None:
            incident = await chain.incident("remote-b")
            return incident if incident and incident["held"] else None

        second = await until("the held incident of remote-b", held)
        assert second["notified"] is False
        await asyncio.sleep(1.5)  # a page, had one been sent, would have arrived by now
        assert len(chain.pages()) == 1

        # 5. expiring it in the console replays what it held, once
        await page.get_by_role("link", name="Silences").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Silences")
        row = page.get_by_role("row", name="remote-b is being rebuilt")
        await expect(row).to_contain_text('instance="remote-b"')
        await page.get_by_role("button", name=f"Expire silence {silence_id}").click()
        await expect(page.get_by_role("button", name=f"Expire silence {silence_id}")).to_have_count(
            0
        )

        async def two_pages() -> bool:
            return len(chain.pages()) >= 2

        await until("the replayed page of remote-b", two_pages)
        pages = chain.pages()
        assert "remote-b" in pages[1] and "remote-a" not in pages[1]
        await asyncio.sleep(3)  # Alertmanager's group interval three times over
        assert len(chain.pages()) == 2, "the held alert was replayed more than once"
        replayed = await chain.incident("remote-b")
        assert replayed is not None and replayed["held"] is False and replayed["notified"]
        await context.close()

    # 6. explain answers what a post would do, and stores nothing
    before = await chain.incidents()
    body = webhook_like_alertmanager(chain.am, "remote-c")
    explained = await chain.post("/explain", body, ADMIN_TOKEN)
    assert explained["stored"] is False
    assert explained["answer"]["queued"] == 1, explained["answer"]
    assert await chain.incidents() == before
    posted = await chain.post("/webhook", body, ALERT_TOKEN)
    assert posted == explained["answer"]
    assert await chain.incident("remote-c") is not None


async def console_timeline(page: Page, bridge: str, incident_id: int) -> None:
    """3. Sign in, open the incident from the list, read its timeline."""
    await sign_in(page, bridge, ADMIN_TOKEN)
    row = page.get_by_role("row", name="remote-a")
    await expect(row).to_contain_text(ALERT)
    await row.get_by_role("link", name=ALERT).click()
    await expect(page).to_have_url(f"{bridge}/ui/incidents/{incident_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(ALERT)
    timeline = page.locator(".timeline")
    await expect(timeline.locator("li.alert").first).to_contain_text("Alert received: firing")
    await expect(timeline.locator("li.alert").first).to_contain_text("queued")
    notification = timeline.locator("li.notification")
    await expect(notification).to_contain_text("open to oncall (email)")
    await expect(notification.locator(":scope > .badge")).to_have_text("delivered")
    await expect(notification.locator(".attempts")).to_contain_text("delivered")
