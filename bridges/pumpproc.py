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
import random
from multiprocessing.connection import Connection
from typing import Any

from spark.app.config.models import SparkConfig

log = logging.getLogger(__name__)
_CTX = mp.get_context("spawn")  # no fork of a process with threads and an event loop
_STOP_GRACE = 10.0


class PumpProcess:
    """Runs ``Bridge(cfg, pumps=names, ingest=False)`` in a child; :meth:`wake` after commits."""

    def __init__(self, cfg: SparkConfig, names: list[str], password: str | None) -> None:
        self.cfg = cfg
        self.names = names
        self.password = password
        self.restarts = 0
        self._wake_fd: int | None = None

    def wake(self) -> None:
        """Tell the child records were committed (any thread; never blocks)."""
        fd = self._wake_fd
        if fd is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
                os.write(fd, b"\x01")

    async def run(self) -> None:
        """Keep a child running until cancelled; a child that dies is restarted with backoff."""
        delay = 0.5
        while True:
            reader, writer = _CTX.Pipe(duplex=False)
            proc = _CTX.Process(target=child_main, name="spark-bridge-pumps", daemon=True,
                                args=(self.cfg, self.names, self.password, reader))
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
            self.restarts += 1
            log.error("bridge: sink pump process exited (code %s); restarting in %.1fs, the "
                      "outbox keeps every record", code, delay)
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.cfg.bridges.backoff_max)


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


def child_main(cfg: SparkConfig, names: list[str], password: str | None,
               wake: Connection) -> None:
    """Entry point of the child process."""
    logging.basicConfig(level=cfg.log_level,
                        format="%(asctime)s %(levelname)s bridge-pumps %(name)s: %(message)s")
    asyncio.run(_child(cfg, names, password, wake))


async def _child(cfg: SparkConfig, names: list[str], password: str | None,
                 wake: Connection) -> None:
    from spark.bridges.runtime import Bridge

    loop = asyncio.get_running_loop()
    bridge = Bridge(cfg, password=password, pumps=names, ingest=False, status=False)
    runner = asyncio.create_task(bridge.run(), name="bridge-pumps")
    fd = wake.fileno()
    os.set_blocking(fd, False)

    def on_wake() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not data:  # the parent is gone or stops us (a batch cut short is sent again)
            loop.remove_reader(fd)
            runner.cancel()
            return
        for pump in bridge.pumps.values():
            pump.wake.set()

    loop.add_reader(fd, on_wake)
    with contextlib.suppress(asyncio.CancelledError):
        await runner
