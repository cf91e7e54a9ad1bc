"""Per-backend health: the circuit breaker and the background prober.

:class:`Breaker`: ``closed`` (used) → one failure (connection error, 5xx, timeout before the
first token, a failed probe) → ``open`` for ``cooldown`` seconds (skipped: requests go straight
to the next tier) → ``half-open`` (still skipped; the prober is woken and its probe decides:
success closes it, failure opens it for another cooldown). A request that succeeds closes it.

:func:`probe_loop`: one per backend, probes ``models()`` with a short timeout every
``interval`` seconds while healthy; after a failure it waits with :class:`core.backoff.Backoff`
(capped at the cooldown), so a dead backend is noticed before a request pays for it and a
backend that is back is closed within about one probe.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable

from spark.core.backoff import Backoff

log = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Breaker:
    def __init__(self, name: str, cooldown: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.cooldown, self._clock = name, cooldown, clock
        self._open_until: float | None = None
        self.last_error: str | None = None
        self.opened = 0  # times it opened
        self.wake = asyncio.Event()  # set when the prober should probe now

    @property
    def state(self) -> BreakerState:
        if self._open_until is None:
            return BreakerState.CLOSED
        return BreakerState.OPEN if self._clock() < self._open_until else BreakerState.HALF_OPEN

    def allows(self) -> bool:
        """Requests may use the backend (O(1), no I/O)."""
        return self._open_until is None

    def fail(self, reason: str, seconds: float | None = None) -> None:
        """Open (or keep open) for ``seconds`` (default: the cooldown); wakes the prober."""
        seconds = self.cooldown if seconds is None else seconds
        if self._open_until is None:
            self.opened += 1
            log.warning("LLM backend %s failed (%s): skipped for %.0f s", self.name, reason,
                        seconds)
            self.wake.set()
        self._open_until = self._clock() + seconds
        self.last_error = reason

    def succeed(self) -> None:
        if self._open_until is not None:
            log.info("LLM backend %s is back: breaker closed", self.name)
        self._open_until, self.last_error = None, None

    def remaining(self) -> float:
        return 0.0 if self._open_until is None else max(0.0, self._open_until - self._clock())


async def probe_loop(breaker: Breaker, probe: Callable[[], Awaitable[object]], interval: float,
                     on_probe: Callable[[float | None], None]) -> None:
    """Probe forever (until cancelled). ``on_probe`` gets the latency in ms, or None: failed.

    While healthy: every ``interval`` s, or at once after a request opened the breaker (then
    after the cooldown: the half-open probe). While failing: backoff from the cooldown up to
    four cooldowns, the breaker open until the next probe."""
    backoff = Backoff(breaker.cooldown, 4 * breaker.cooldown, jitter=0.1)
    while True:
        start = time.perf_counter()
        try:
            await probe()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            on_probe(None)
            breaker.fail(f"probe: {exc}", seconds=backoff.delay)
            await backoff.wait()
            continue
        on_probe((time.perf_counter() - start) * 1000)
        breaker.succeed()
        backoff.reset()
        breaker.wake.clear()
        try:
            async with asyncio.timeout(interval):
                await breaker.wake.wait()
        except TimeoutError:
            continue
        await backoff.wait()  # a request failed: probe when its cooldown is over
