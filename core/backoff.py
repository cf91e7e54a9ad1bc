"""Exponential backoff with jitter: the wait of every external link's supervisor loop.

A supervisor (the broker client, a sink pump, the recorder's store, a camera, a microphone, the
Kafka cloud source, the pump process) tries the expensive work (connect, migrate, open); on
success it calls :meth:`Backoff.reset`; on failure it logs :attr:`Backoff.delay` and awaits
:meth:`Backoff.wait`, which sleeps that delay (give or take ``jitter``, so links that failed
together do not retry together) and doubles the next one up to ``maximum``.

With a ``probe`` (something cheap: a bare TCP connect, a connection without migrations) the wait
delays the expensive work, not the detection of a link that is back: it probes every
``probe_every`` seconds, and once a probe has seen the link down, the first probe that sees it up
ends the wait (a database back after a long outage is written to within about ``probe_every``
seconds, not after up to ``maximum``). A link that fails while its probes keep succeeding waits
out its whole delay. ``until``: an event that ends the wait early (a stop request).

Cancellation-safe: the wait is plain ``asyncio`` sleeping; a cancelled wait raises
``CancelledError`` and leaves the delay as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

Probe = Callable[[], Awaitable[bool | None]]  # True up, False down, None: cannot tell


class Backoff:
    def __init__(self, minimum: float, maximum: float, *, factor: float = 2.0,
                 jitter: float = 0.2, probe_every: float = 1.0) -> None:
        if not 0 < minimum or factor < 1 or not 0 <= jitter < 1 or probe_every <= 0:
            raise ValueError(f"bad backoff: {minimum=} {factor=} {jitter=} {probe_every=}")
        self.minimum, self.maximum, self.factor = min(minimum, maximum), maximum, factor
        self.jitter, self.probe_every = jitter, probe_every
        self.delay = self.minimum  # the next wait, before jitter
        self.current = 0.0  # the latest wait's delay; 0 after a reset (the link is up)
        self._seen_down = False  # a probe found the link down since the last reset

    def reset(self) -> None:
        """The link works: the next failure waits ``minimum`` again."""
        self.delay, self.current, self._seen_down = self.minimum, 0.0, False

    async def wait(self, probe: Probe | None = None, until: asyncio.Event | None = None) -> bool:
        """Wait the current delay (jittered), then double it. True when the wait ended early:
        the ``probe`` saw the link come back, or ``until`` was set."""
        self.current = self.delay
        seconds = self.delay * random.uniform(1 - self.jitter, 1 + self.jitter)
        if probe is None:
            early = await _sleep(seconds, until)
        else:
            early = await self._probing(seconds, probe, until)
        self.delay = min(self.delay * self.factor, self.maximum)
        return early

    async def _probing(self, seconds: float, probe: Probe, until: asyncio.Event | None) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            if await _sleep(min(self.probe_every, left), until):
                return True
            if loop.time() >= end:
                return False
            up = await self._probe(probe)
            if up is None:  # a link without a probe: wait the rest
                return await _sleep(max(0.0, end - loop.time()), until)
            if not up:
                self._seen_down = True
            elif self._seen_down:
                self._seen_down = False
                return True
        return False

    async def _probe(self, probe: Probe) -> bool | None:
        try:
            async with asyncio.timeout(max(2 * self.probe_every, 2.0)):
                return await probe()
        except Exception:  # a hung or failing probe: the link is not usable
            return False


async def _sleep(seconds: float, until: asyncio.Event | None) -> bool:
    """Sleep ``seconds``; True when ``until`` was set first."""
    if until is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await until.wait()
            return True
    return False
