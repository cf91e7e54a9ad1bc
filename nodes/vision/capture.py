"""One supervisor loop per camera link: open the source, read frames at the camera's rate into
the node's latest-frame slot, and on an error report it, close, back off (1 s doubling to 30 s)
and reopen. Reads run in the node's worker threads; while detection is switched off the loop
waits (the camera is left idle, not closed)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from spark.core.backoff import Backoff
from spark.nodes.vision.config import CameraConfig
from spark.nodes.vision.errors import SourceError
from spark.nodes.vision.pipeline import FrameSlots
from spark.nodes.vision.sources import FrameSource, make_source

log = logging.getLogger(__name__)

Blocking = Callable[..., Awaitable[Any]]  # runs a blocking call in a worker thread
Health = Callable[[str, FrameSource, str | None], None]  # camera id, source, error or None

BACKOFF_MAX = 30.0


class CameraReader:
    def __init__(self, cam: CameraConfig, slots: FrameSlots[Any], running: asyncio.Event,
                 blocking: Blocking, health: Health) -> None:
        self.cam = cam
        self.slots = slots
        self.running = running
        self.blocking = blocking
        self.health = health
        self.source: FrameSource | None = None  # the open one (teardown closes it)
        self.reads = 0

    async def run(self) -> None:
        interval, backoff = 1.0 / self.cam.fps, Backoff(1.0, BACKOFF_MAX, jitter=0.0)
        while True:
            await self.running.wait()
            source = self.source = make_source(self.cam.source)
            try:
                await self.blocking(source.open)
                self.health(self.cam.id, source, None)
                backoff.reset()
                next_at = time.monotonic()
                while True:
                    await self.running.wait()
                    frame = await self.blocking(source.read)
                    if frame is None:
                        log.info("camera %s (%s): end of input", self.cam.id, source.name)
                        return
                    self.reads += 1
                    now = time.monotonic()
                    if self.running.is_set():  # detection may have stopped during the read:
                        self.slots.put(self.cam.id, frame, time.time())  # then no frame waits
                    next_at = max(next_at + interval, now)  # late: no burst to catch up
                    await asyncio.sleep(next_at - time.monotonic())
            except SourceError as exc:
                self.health(self.cam.id, source, str(exc))
            except Exception as exc:
                log.exception("camera %s (%s) failed", self.cam.id, source.name)
                self.health(self.cam.id, source, f"internal error: {exc!r}")
            await self.blocking(source.close)
            self.source = None
            await backoff.wait()
