"""Typed commands for a machine without a microphone (``spark up``'s default voice node).

Lines come from a FIFO or file (``path``; created as a FIFO when missing, e.g.
``echo "turn on the sim lamp" > /tmp/spark-voice``) and from standard input when it is a
terminal. Typed text skips wake word and speech recognition. With nothing typed the source is
inert: no frames, no CPU, and the node stays healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

from pydantic import Field

from spark.nodes.voice.sources.base import SourceItem, TypedText, VoiceSource
from spark.nodes.voice.stt.base import StageConfig

log = logging.getLogger(__name__)


class ConsoleSourceConfig(StageConfig):
    type: Literal["console"] = "console"
    path: Path | None = Field(None, description="FIFO or file to read lines from (a FIFO is "
                              "created when missing).")
    stdin: bool = Field(True, description="Also read standard input when it is a terminal.")
    poll_s: float = Field(0.2, gt=0, description="How often a plain file is checked.")


class ConsoleSource(VoiceSource):
    type = "console"

    def __init__(self, config: ConsoleSourceConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self._queue: asyncio.Queue[str] = asyncio.Queue(100)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        return f"console {self.cfg.path or 'stdin'}"

    async def open(self) -> None:
        path = self.cfg.path
        if path is not None:
            if not path.exists():
                with contextlib.suppress(OSError):
                    os.mkfifo(path)
            self._tasks.append(asyncio.create_task(self._read_path(path), name="voice-console"))
        if self.cfg.stdin and sys.stdin is not None and sys.stdin.isatty():
            self._tasks.append(asyncio.create_task(self._read_stdin(), name="voice-stdin"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def _put(self, line: str) -> None:
        line = line.strip()
        if line and not self._queue.full():
            self._queue.put_nowait(line)

    async def _read_path(self, path: Path) -> None:
        """Poll ``path`` without ever blocking: a FIFO is opened non-blocking (reads see EOF
        while nobody writes), a plain file is read from where the last read stopped."""
        fd: int | None = None
        offset = 0
        pending = b""
        try:
            while True:
                try:
                    if fd is None:
                        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                            os.lseek(fd, offset, os.SEEK_SET)
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        chunk = b""
                    if chunk:
                        offset += len(chunk)
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            self._put(line.decode(errors="replace"))
                        continue
                except OSError as exc:
                    log.debug("console source %s: %s", path, exc)
                    if fd is not None:
                        os.close(fd)
                        fd = None
                await asyncio.sleep(self.cfg.poll_s)
        finally:
            if fd is not None:
                os.close(fd)

    async def _read_stdin(self) -> None:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        fd = sys.stdin.fileno()
        loop.add_reader(fd, ready.set)  # no thread: nothing left blocking at shutdown
        try:
            while True:
                await ready.wait()
                ready.clear()
                line = sys.stdin.readline()
                if not line:
                    return
                self._put(line)
        finally:
            loop.remove_reader(fd)

    async def items(self) -> AsyncIterator[SourceItem]:
        while True:
            yield TypedText(await self._queue.get())
