"""The writer process: webhook batches decided and committed beside the HTTP process.

In one process, serving HTTP and deciding webhooks take turns on one interpreter lock,
whatever the number of cores. With ``database.writer: process`` (the default) the
serving process checks each webhook's headers and hands every group-committed batch (the
raw bodies and their receipt times) through a pipe to a child process. The child parses
them, decides and commits each batch on its main thread (:meth:`Pipeline.work` in
:meth:`Runner.write_blocking`: no event loop, no thread hop per batch) and sends back
one answer per webhook (its summary, or why its body is not a webhook); the 200 answers
still leave only after the commit.

If the child dies, the batch in flight fails as "database unavailable" (a 503, which
Alertmanager retries; the child answers only after its commit, so nothing answered is
lost, and an uncommitted batch leaves nothing behind) and the next batch starts a new
child. The delivery worker, the silence replayer and the API keep their own transactions
in the serving process: they are small and rare next to a storm of webhooks. The pipe
carries pickles between this process and its own child only.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import pickle
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError

from lumen_bridge.config import Settings
from lumen_bridge.pipeline import Answer, Pipeline, Webhook
from lumen_bridge.store.database import open_runner
from lumen_bridge.store.runner import Runner

__all__ = ["WriterProcess"]

START_TIMEOUT = 60.0  # seconds for a new child to start and say it is ready
STOP_TIMEOUT = 30.0  # seconds a stopping child may take to finish its batch

log = structlog.get_logger("lumen_bridge.writer")


class WriterProcess:
    """Runs :meth:`Pipeline.run_many` in a child process; one batch at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: BaseProcess | None = None
        self._pipe: Connection | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the child and wait until it is ready for batches."""
        # A fork of a single-threaded server that has imported this module already: quick,
        # and nothing of this process's threads or loop is inherited.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_child, args=(theirs, self.settings), name="lumen-writer", daemon=True
        )
        process.start()
        theirs.close()
        try:
            await asyncio.wait_for(_readable(ours), START_TIMEOUT)
            ours.recv_bytes()
        except (EOFError, OSError, TimeoutError) as exc:
            ours.close()
            process.kill()
            raise ConnectionError(
                f"the database writer process did not start (exit code {process.exitcode}); "
                "its log lines above say why"
            ) from exc
        self._process, self._pipe = process, ours
        log.info("writer process started", pid=process.pid)

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` before it starts)."""
        return None if self._process is None else self._process.pid

    async def run_many(self, webhooks: Sequence[Webhook]) -> list[Answer]:
        """Decide and commit ``webhooks`` in the child, in one transaction; one answer each."""
        message = pickle.dumps([(w.body, w.received_at) for w in webhooks], 5)
        async with self._lock:
            pipe = await self._send(message)
            try:
                await _readable(pipe)
                ok, result = pickle.loads(pipe.recv_bytes())  # noqa: S301 - our own child
            except (EOFError, OSError) as exc:
                self._lost("it exited with a batch in flight")
                raise ConnectionError("the database writer process exited") from exc
            except BaseException:  # cancelled: its answer must not be read by the next batch
                self._lost("a batch was abandoned before its answer")
                raise
        if not ok:
            raise result
        answers: list[Answer] = result
        return answers

    async def _send(self, message: bytes) -> Connection:
        """Send ``message`` to the child; first start one if there is none, or if it died
        since the last batch (its end of the pipe is closed: none of ours reached it)."""
        if self._pipe is not None:
            try:
                self._pipe.send_bytes(message)
                return self._pipe
            except OSError:
                self._lost("it exited between batches")
        await self.start()
        assert self._pipe is not None
        self._pipe.send_bytes(message)
        return self._pipe

    def _lost(self, why: str) -> None:
        """Drop the child: it ends once it sees the closed pipe (or is already gone)."""
        assert self._pipe is not None
        assert self._process is not None
        self._pipe.close()
        self._pipe = None
        self._process.join(0)
        log.error(
            "writer process lost; the next batch starts a new one",
            why=why,
            pid=self._process.pid,
            exit_code=self._process.exitcode,
        )

    async def close(self) -> None:
        """Let the child finish its batch and stop."""
        async with self._lock:
            if self._pipe is not None:
                self._pipe.close()
                self._pipe = None
            if self._process is not None:
                await asyncio.to_thread(self._process.join, STOP_TIMEOUT)
                if self._process.is_alive():
                    self._process.kill()


async def _readable(pipe: Connection) -> None:
    """Wait on the running loop until ``pipe`` has data (or its other end closed)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = pipe.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _child(pipe: Connection, settings: Settings) -> None:
    """The child's main: serve batches until the parent closes the pipe.

    It waits on the pipe and runs each batch on this thread (no event loop: on SQLite
    every statement runs here, without a hop to a worker thread and back).
    """
    from lumen_bridge.logs import configure_logging

    # Ctrl-C, or a TERM sent to the whole group: the parent drains and then closes the pipe,
    # which ends this process (as does the parent's death).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.log)
    runner = open_runner(settings.database, serial=True)
    pipeline = Pipeline(settings, runner)
    # What exists now lives as long as the process: out of the collector's sight, a full
    # collection walks only what batches create (1 ms instead of a 50 ms stall of a batch).
    gc.freeze()
    pipe.send_bytes(b"ready")
    try:
        while True:
            try:
                message = pipe.recv_bytes()
            except EOFError:
                return  # the parent closed the pipe: stop
            try:
                pipe.send_bytes(pickle.dumps(_commit(runner, pipeline, message), 5))
            except OSError:
                return  # the parent gave up on this batch
    finally:
        asyncio.run(runner.close())


def _commit(runner: Runner, pipeline: Pipeline, message: bytes) -> tuple[bool, Any]:
    """One batch from the parent, parsed, decided and committed: the reply to send back."""
    webhooks = [Webhook._make(w) for w in pickle.loads(message)]  # noqa: S301 - our parent
    try:
        return True, runner.write_blocking(pipeline.work(webhooks))
    except Exception as exc:
        return False, _portable(exc)


def _portable(exc: Exception) -> Exception:
    """``exc`` as it can cross the pipe: a database error keeps its class, not its parameters
    (a storm's batch) nor its driver's exception (not always picklable)."""
    if isinstance(exc, DBAPIError):
        return type(exc)(
            exc.statement,
            None,
            Exception(f"{type(exc.orig).__name__}: {exc.orig}"),
            connection_invalidated=exc.connection_invalidated,
        )
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
