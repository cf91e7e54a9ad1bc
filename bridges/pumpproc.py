"""The sink pumps in a child process of the bridge, supervised (``bridges.pump_process``).

Why: the ingest (MQTT -> outbox, ~40 us of Python per message) and the pumps (outbox -> sinks)
are both CPU-bound Python; in one process they share one core through the GIL. With the pumps
in a child, ``spark bridge run`` uses two cores, and a crash in a sink's C library (librdkafka,
libpq) cannot take the ingest down: the supervisor restarts the child with backoff while the
outbox keeps everything.

The child drains the same SQLite outbox (WAL: one writer at a time, readers never blocked).
A pipe links them: the parent writes a byte after each outbox commit (the pumps wake at once
instead of polling), and the child exits when the pipe closes, so a ``kill -9`` of the bridge
leaves no orphan pump behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

from spark.core.backoff import Backoff

log = logging.getLogger(__name__)
_CTX = mp.get_context("spawn")  # no fork of a process with threads and an event loop
_STOP_GRACE = 10.0

ChildMain = Callable[[Connection], None]  # picklable (spawn): a module-level function or partial


class PumpProcess:
    """Runs ``main(wake)`` in a child (``bridges.runtime.pump_child_main``: the sink pumps
    ``names``); :meth:`wake` after commits."""

    def __init__(self, main: ChildMain, names: list[str], *, backoff_max: float = 30.0) -> None:
        self.main = main
        self.names = names
        self.backoff_max = backoff_max
        self._wake_fd: int | None = None

    def wake(self) -> None:
        """Tell the child records were committed (any thread; never blocks)."""
        fd = self._wake_fd
        if fd is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(fd, b"\x01")

    async def run(self) -> None:
        """Keep a child running until cancelled; a child that dies is restarted with backoff."""
        backoff = Backoff(0.5, self.backoff_max)
        while True:
            reader, writer = _CTX.Pipe(duplex=False)
            proc = _CTX.Process(target=self.main, name="spark-bridge-pumps", daemon=True,
                                args=(reader,))
            proc.start()
            reader.close()  # the child holds the only read end: its EOF is our exit
            os.set_blocking(writer.fileno(), False)
            self._wake_fd = writer.fileno()
            log.info("bridge: sink pumps (%s) running in process %d", ", ".join(self.names),
                     proc.pid)
            try:
                code = await _exited(proc)
            except asyncio.CancelledError:
                self._wake_fd = None
                writer.close()  # the child sees EOF and stops its pumps
                await asyncio.shield(asyncio.to_thread(_stop, proc))
                raise
            self._wake_fd = None
            writer.close()
            log.error("bridge: sink pump process exited (code %s); restarting in %.1fs, the "
                      "outbox keeps every record", code, backoff.delay)
            await backoff.wait()


async def _exited(proc: Any) -> int | None:
    """Wait for the child's exit without a thread: its sentinel fd turns readable."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(proc.sentinel, readable)
    try:
        await done
    finally:
        loop.remove_reader(proc.sentinel)
    proc.join()
    return proc.exitcode  # type: ignore[no-any-return]


def _stop(proc: Any) -> None:
    proc.join(_STOP_GRACE)
    if proc.is_alive():
        proc.terminate()
        proc.join(_STOP_GRACE)
    if proc.is_alive():
        proc.kill()
        proc.join()


async def serve_child(run: Coroutine[Any, Any, None], on_wake: Callable[[], None],
                      wake: Connection) -> None:
    """In the child: run ``run`` until the parent closes the pipe (then cancel it); call
    ``on_wake`` for each byte the parent writes after a commit."""
    loop = asyncio.get_running_loop()
    runner = asyncio.create_task(run, name="bridge-pumps")
    fd = wake.fileno()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not data:  # the parent is gone or stops us (a batch cut short is sent again)
            loop.remove_reader(fd)
            runner.cancel()
            return
        on_wake()

    loop.add_reader(fd, readable)
    with contextlib.suppress(asyncio.CancelledError):
        await runner
