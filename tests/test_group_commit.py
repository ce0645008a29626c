"""Group commit through the HTTP API: concurrent webhooks, each with its own answer (how
items are batched is tested without a server: tests/unit/test_group_commit_batches.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from lumen_bridge.api.keys import INGEST
from lumen_bridge.group_commit import SATURATED_BATCH
from lumen_bridge.pipeline import Answer, Webhook
from tests.conftest import AppFactory, auth, payload, post
from tests.helpers import count_events, notifications


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    """The pipeline in this process, where its batches can be counted and spoiled."""
    return await make_client(LUMEN_DATABASE_WRITER="thread")


def count_transactions(client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every batch the pipeline commits."""
    pipeline = client.app[INGEST].pipeline
    original = pipeline.run_many
    sizes: list[int] = []

    async def counting(webhooks: Sequence[Webhook]) -> list[Answer]:
        sizes.append(len(webhooks))
        return await original(webhooks)

    monkeypatch.setattr(pipeline, "run_many", counting)
    return sizes


async def test_concurrent_webhooks_share_transactions(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = count_transactions(client, monkeypatch)
    bodies = [payload(fingerprint=f"fp-{i}", n=1 + i % 3) for i in range(30)]
    answers = await asyncio.gather(*(post(client, body) for body in bodies))
    assert [a["alerts"] for a in answers] == [len(b["alerts"]) for b in bodies]
    assert all(a["queued"] == a["alerts"] for a in answers)
    assert sum(sizes) == 30  # each webhook committed once, alone or with others
    assert await count_events(client) == sum(len(b["alerts"]) for b in bodies)
    # still one e-mail per webhook delivery, not one per batch
    assert len(await notifications(client)) == 30


async def test_only_a_pile_of_webhooks_counts_as_saturated(client: TestClient[Any, Any]) -> None:
    ingest = client.app[INGEST]
    for i in range(SATURATED_BATCH):  # one after the other: batches of one
        await post(client, payload(fingerprint=f"alone-{i}"))
    assert not ingest.saturated(60)
    bodies = [payload(fingerprint=f"pile-{i}") for i in range(4 * SATURATED_BATCH)]
    await asyncio.gather(*(post(client, body) for body in bodies))
    assert ingest.saturated(60)
    assert not ingest.saturated(0)


async def test_twins_in_one_batch_notify_once(client: TestClient[Any, Any]) -> None:
    body = payload(n=2)
    answers = await asyncio.gather(*(post(client, body) for _ in range(10)))
    assert sum(a["queued"] for a in answers) == 2
    assert sum(a["deduplicated"] for a in answers) == 18


async def test_a_failing_webhook_does_not_fail_its_batch(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = client.app[INGEST].pipeline
    original = pipeline.run_many

    async def refuses_poison(webhooks: Sequence[Webhook]) -> list[Answer]:
        if any(b'"poison"' in w.body for w in webhooks):
            raise ValueError("cannot store this one")
        return await original(webhooks)

    monkeypatch.setattr(pipeline, "run_many", refuses_poison)
    poison = payload(fingerprint="bad") | {"groupKey": "poison"}
    good = [payload(fingerprint=f"good-{i}") for i in range(8)]
    responses = await asyncio.gather(
        client.post("/webhook", json=poison, headers=auth()),
        *(client.post("/webhook", json=body, headers=auth()) for body in good),
    )
    assert [r.status for r in responses] == [500] + [200] * 8
    assert len(await notifications(client)) == 8
