"""How GroupCommit batches items, without a server or a clock: items that arrive while a
batch commits make the next one, weight splits batches, a failing batch is retried item by
item unless the database is down (through the HTTP API: tests/test_group_commit.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import pytest
from sqlalchemy.exc import OperationalError

from lumen_bridge.group_commit import SATURATED_BATCH, GroupCommit

Batches = list[list[str]]


def recording(
    batches: Batches, fail: Callable[[Sequence[str]], Exception | None] = lambda _: None
) -> Callable[[Sequence[str]], Awaitable[list[str]]]:
    """A ``run_many`` that records each batch, raises what ``fail`` says, else answers each
    item with ``done-<item>``."""

    async def run_many(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        error = fail(items)
        if error is not None:
            raise error
        return [f"done-{item}" for item in items]

    return run_many


async def queue_up(
    gc: GroupCommit[str, str], items: Sequence[str]
) -> asyncio.Future[list[str | BaseException]]:
    """Submit ``items`` in order, each in its own task; return once every one is waiting
    (an awaitable of their answers, exceptions included)."""
    assert items
    queued = 0

    async def one(item: str) -> str:
        nonlocal queued
        queued += 1  # submit() queues the item before its first await
        return await gc.submit(item)

    answers = asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    for _ in range(100):
        if queued == len(items):
            break
        await asyncio.sleep(0)
    assert queued == len(items)
    return answers


async def test_items_submitted_during_a_commit_make_the_next_batch() -> None:
    sizes: list[int] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run_many(items: Sequence[str]) -> list[str]:
        sizes.append(len(items))
        if len(sizes) == 1:
            started.set()
            await release.wait()
        return [f"done-{item}" for item in items]

    gc: GroupCommit[str, str] = GroupCommit("test", run_many)
    gc.start()
    try:
        first = asyncio.create_task(gc.submit("first"))
        await started.wait()
        assert gc.busy
        later = [f"later-{i}" for i in range(29)]
        answers = await queue_up(gc, later)
        assert sizes == [1]  # the first batch is still committing
        release.set()
        assert await first == "done-first"
        assert await answers == [f"done-{item}" for item in later]
        assert sizes == [1, 29]
        assert not gc.busy
    finally:
        release.set()
        await gc.stop()


async def test_a_batch_holds_at_most_max_size_of_weight() -> None:
    batches: Batches = []
    weights = {"a": 4, "b": 4, "c": 2, "heavy": 12, "d": 1, "e": 5, "f": 5}
    gc = GroupCommit("test", recording(batches), size=weights.__getitem__, max_size=10)
    try:
        answers = await queue_up(gc, list(weights))  # all waiting before the writer starts
        gc.start()
        assert await answers == [f"done-{item}" for item in weights]
        # a batch may weigh exactly max_size; an item heavier than that goes alone
        assert batches == [["a", "b", "c"], ["heavy"], ["d", "e"], ["f"]]
    finally:
        await gc.stop()


async def test_a_failing_batch_is_retried_item_by_item() -> None:
    batches: Batches = []

    def poison(items: Sequence[str]) -> Exception | None:
        return ValueError("cannot store this one") if "bad" in items else None

    gc = GroupCommit("test", recording(batches, poison))
    try:
        answers = await queue_up(gc, ["a", "bad", "c"])
        gc.start()
        a, bad, c = await answers
        assert (a, c) == ("done-a", "done-c")
        assert isinstance(bad, ValueError)
        assert batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]
    finally:
        await gc.stop()


async def test_a_database_down_fails_the_whole_batch_at_once() -> None:
    batches: Batches = []
    down = OperationalError("COMMIT", {}, ConnectionRefusedError("database is down"))
    gc = GroupCommit("test", recording(batches, lambda _: down))
    try:
        answers = await queue_up(gc, ["a", "b", "c"])
        gc.start()
        assert await answers == [down, down, down]
        assert batches == [["a", "b", "c"]]  # not retried one by one
    finally:
        await gc.stop()


@pytest.mark.parametrize(
    "error", [ValueError("bad"), OperationalError("COMMIT", {}, OSError("down"))]
)
async def test_a_single_failing_item_fails_once(error: Exception) -> None:
    batches: Batches = []
    gc = GroupCommit("test", recording(batches, lambda _: error))
    gc.start()
    try:
        with pytest.raises(type(error)):
            await gc.submit("only")
        assert batches == [["only"]]
    finally:
        await gc.stop()


async def test_only_a_full_batch_counts_as_saturated() -> None:
    batches: Batches = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run_many(items: Sequence[str]) -> list[str]:
        batches.append(list(items))
        if items == ["plug"]:
            started.set()
            await release.wait()
        return [f"done-{item}" for item in items]

    gc: GroupCommit[str, str] = GroupCommit("test", run_many)
    try:
        assert not gc.saturated(60)
        almost = [f"almost-{i}" for i in range(SATURATED_BATCH - 1)]
        answers = await queue_up(gc, almost)
        gc.start()
        await answers
        assert batches == [almost]
        assert not gc.saturated(60)

        plug = asyncio.create_task(gc.submit("plug"))
        await started.wait()
        full = [f"full-{i}" for i in range(SATURATED_BATCH)]
        answers = await queue_up(gc, full)
        assert not gc.saturated(60)  # still waiting behind the plug
        release.set()
        await plug
        assert await answers == [f"done-{item}" for item in full]
        assert batches == [almost, ["plug"], full]
        assert gc.saturated(60)
        assert not gc.saturated(0)
    finally:
        release.set()
        await gc.stop()
