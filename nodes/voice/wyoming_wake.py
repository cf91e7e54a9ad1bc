"""Wake word on a Wyoming server (wyoming-openwakeword, wyoming-microwakeword, ...): every
frame streams to the server (``detect``, ``audio-start``, ``audio-chunk`` ...) and a
``detection`` it sends back wakes the node.

The connection is supervised in its own thread (``wyoming.py``: reconnect with backoff); while
it is down, frames wait in a bounded queue (the oldest dropped) and the node does not wake. The
audio between the spoken wake word and the detection arriving (a network round trip) is not
replayed to speech-to-text: the command is heard from the next frame on, as with any
streaming wake word.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from concurrent.futures import Future

from spark.nodes.voice.wake.base import WakeHit, WakeWord
from spark.nodes.voice.wyoming import LinkThread, WyomingError, WyomingWakeConfig

log = logging.getLogger(__name__)
QUEUE_FRAMES = 100  # 3 s of audio waits for a link that is down; older frames are dropped


class WyomingWake(WakeWord):
    type = "wyoming"
    streaming = True

    def __init__(self, config: WyomingWakeConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self._link: LinkThread | None = None
        self._queue: asyncio.Queue[bytes] | None = None
        self._stream: Future[None] | None = None
        self._hits: collections.deque[tuple[str, int | None]] = collections.deque(maxlen=8)

    @property
    def phrases(self) -> list[str]:
        return list(self.cfg.phrases)

    def open(self) -> None:
        if self._link is None:
            self._link = LinkThread(self.cfg)
            self._stream = asyncio.run_coroutine_threadsafe(self._streaming(),
                                                            self._link.loop)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        if self._link is not None:
            self._link.close()
        self._link = self._stream = None

    async def _streaming(self) -> None:
        """On the link's loop: stream to the detector; after a break, again once the link's
        supervisor has reconnected (``detect`` waits for it)."""
        self._queue = asyncio.Queue(maxsize=QUEUE_FRAMES)
        assert self._link is not None and self._link.link is not None
        while True:
            try:
                await self._link.link.detect(self.cfg.names, self._queue, self._found)
            except WyomingError as exc:
                log.warning("wyoming wake word: %s", exc)
            while not self._queue.empty():  # stale audio: not for the next stream
                self._queue.get_nowait()
            await asyncio.sleep(0.2)

    def _found(self, name: str, timestamp: int | None) -> None:
        log.debug("wyoming wake word %r at %s ms", name, timestamp)
        self._hits.append((name, timestamp))

    def _put(self, frame: bytes) -> None:
        queue = self._queue
        if queue is None:
            return
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(frame)

    def feed(self, frame: bytes) -> WakeHit | None:
        self.open()
        assert self._link is not None
        try:
            self._link.loop.call_soon_threadsafe(self._put, frame)
        except RuntimeError:  # the link's loop closed (shutting down)
            return None
        if not self._hits:
            return None
        self._hits.clear()
        return WakeHit(self.phrases[0])
