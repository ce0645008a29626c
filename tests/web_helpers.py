"""The web console under a real browser: the bridge served on 127.0.0.1, Debian's chromium
driven by Playwright, screenshots of each page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, Page, async_playwright

from lumen_bridge.app import create_app
from tests.conftest import ADMIN_TOKEN, SERVER_SHUTDOWN_TIMEOUT, FakeClock, make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / ".screenshots"
DOCS = Path(__file__).parents[1] / "docs"


def have_chromium() -> bool:
    """Whether the browser the tests drive is installed."""
    return CHROMIUM.exists()


def console_app(db_url: str, clock: FakeClock, **env: str) -> web.Application:
    """The bridge's app (console included), deciding webhooks in this process."""
    return create_app(make_settings(db_url, LUMEN_DATABASE_WRITER="thread", **env), clock=clock)


@dataclass
class Bridge:
    """A served bridge: its base URL, and a client to post webhooks and read its database."""

    url: str
    client: TestClient[Any, Any]


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[Bridge]:
    """Serve ``app`` on 127.0.0.1 until the block ends."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(shutdown_timeout=SERVER_SHUTDOWN_TIMEOUT)
    client: TestClient[Any, Any] = TestClient(server)
    await client.start_server()
    try:
        yield Bridge(str(server.make_url("")).rstrip("/"), client)
    finally:
        await client.close()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's chromium, headless."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def shot(page: Page, name: str, *, docs: bool = False) -> None:
    """A full-page screenshot to tests/.screenshots/ (and to docs/console.png)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    if docs:
        await page.screenshot(path=DOCS / "console.png", full_page=False)


async def sign_in(page: Page, base: str, token: str = ADMIN_TOKEN) -> None:
    """Sign in through the form."""
    await page.goto(f"{base}/ui/sign-in")
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{base}/")


async def unlabelled_controls(page: Page) -> list[str]:
    """The visible form controls of the page that have no label."""
    found: list[str] = await page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea",
        "els => els.filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))"
        ".map(e => e.outerHTML)",
    )
    return found
