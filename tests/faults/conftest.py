"""Fixtures of the fault suite: bridges that are always stopped, a ticket system, a client.

Every bridge a test launches is killed when the test ends, also on failure; the end of its
logs is then printed with the failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path

import aiohttp
import pytest

from tests.faults.peers import Tickets
from tests.faults.rig import Bridge, write_config

Launch = Callable[..., Awaitable[Bridge]]
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
async def tickets() -> AsyncIterator[Tickets]:
    server = await Tickets().start()
    yield server
    await server.close()


@pytest.fixture
async def launch(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Launch]:
    """``await launch(database_url, ticket_timeout=..., **env)``: a started bridge on a
    configuration copy with short retries; keyword arguments in capitals are its environment."""
    bridges: list[Bridge] = []

    async def factory(
        database_url: str,
        *,
        ticket_timeout: str | None = None,
        max_body_bytes: int | None = None,
        **env: str,
    ) -> Bridge:
        workdir = tmp_path / f"bridge{len(bridges)}"
        workdir.mkdir()
        config = write_config(workdir, ticket_timeout=ticket_timeout, max_body_bytes=max_body_bytes)
        bridge = Bridge(workdir, config, {"LUMEN_DATABASE_URL": database_url, **env})
        bridges.append(bridge)
        await bridge.start()
        return bridge

    yield factory
    for bridge in bridges:
        await bridge.stop()
    if request.node.stash.get(_FAILED, False):
        for bridge in bridges:
            print(bridge.tail())
