"""One supervised loop per sink: outbox batch -> ``Sink.write`` -> ``Outbox.ack``.

A partial batch waits ``linger`` seconds once for more records (``bridges.linger_ms``, at most
the sink's ``batch_seconds``): a sink writes a few large batches much faster than many small
ones. The loop opens its sink through a factory (retrying with exponential backoff and jitter while
``open`` raises :class:`SinkError`), then reads a batch after the sink's cursor, writes it and
acknowledges it. A failed write closes the sink, backs off and retries the same batch: the
cursor moves only after ``write`` returned, so delivery is at-least-once and the sinks drop
replays by record key.

The backoff (:class:`~spark.core.backoff.Backoff`) delays the expensive work (open: connect,
migrations, metadata), not the detection of a link that is back: while it waits, the pump calls
:meth:`Sink.probe` every ``probe`` seconds, and once a probe has seen the link down, the first
one that sees it up ends the wait (so a database back after a long outage is written to within
about ``probe`` seconds, not after up to ``backoff_max``). A sink that fails while its link is
up (probes keep succeeding) waits out its whole backoff. The link state is a
:class:`~spark.core.link.LinkState`, exposed with counters by :meth:`Pump.metrics` (the bridge's
status node publishes them as hub entities).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from spark.bridges.outbox.store import Batch, Outbox, OutboxError
from spark.bridges.sinks.base import Sink, SinkError
from spark.core.backoff import Backoff
from spark.core.link import LinkState

log = logging.getLogger(__name__)

SinkFactory = Callable[[], Sink]


class Pump:
    """Drains one sink. ``outbox`` is this pump's own connection."""

    def __init__(self, name: str, make_sink: SinkFactory, outbox: Outbox, *, batch: int = 5000,
                 backoff_min: float = 0.5, backoff_max: float = 30.0, poll: float = 1.0,
                 probe: float = 1.0, linger: float = 0.0) -> None:
        self.name = name
        self._make_sink = make_sink
        self.outbox = outbox
        self.batch = batch
        self.poll = poll
        self.backoff = Backoff(backoff_min, backoff_max, probe_every=probe)
        self.linger = linger
        self.state = LinkState.IDLE
        self.wake = asyncio.Event()  # set when records were appended (see Bridge)
        self.delivered = self.batches = self.failures = 0
        self.last_error: str | None = None

    async def run(self, until_idle: bool = False) -> None:
        """Deliver until cancelled (or, with ``until_idle``, until the backlog is empty)."""
        try:
            while True:
                sink = self._make_sink()
                try:
                    self._set_state(LinkState.CONNECTING)
                    await sink.open()
                    self._set_state(LinkState.UP)
                    log.info("bridge: %s sink up", self.name)
                    self.backoff.reset()
                    if await self._drain(sink, until_idle):
                        return
                except SinkError as exc:
                    self._failed(exc)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a sink bug: keep the outbox, retry later
                    log.exception("bridge: %s sink failed unexpectedly", self.name)
                    self._failed(exc)
                finally:
                    with contextlib.suppress(Exception):
                        await sink.close()
                self._set_state(LinkState.BACKOFF)
                if await self.backoff.wait(probe=sink.probe):
                    log.info("bridge: %s link is back; retrying now", self.name)
        finally:
            self._set_state(LinkState.CLOSED)

    @property
    def retry_delay(self) -> float:
        """The backoff in progress (0 while up)."""
        return self.backoff.current

    def _set_state(self, state: LinkState) -> None:
        if state is self.state:
            return
        self.state = state
        try:
            self.outbox.set_link(self.name, state.value, self.delivered)
        except OutboxError as exc:
            log.warning("bridge: cannot record the %s link state: %s", self.name, exc)

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        log.warning("bridge: %s sink down (%s); retrying in %.1fs", self.name, self.last_error,
                    self.backoff.delay)

    async def _drain(self, sink: Sink, until_idle: bool) -> bool:
        """Deliver batches while the sink works; True when idle and ``until_idle``."""
        lingered = False
        while True:
            self.wake.clear()
            start, batch = await self._read()
            if 0 < len(batch.records) < self.batch and self.linger and not lingered:
                lingered = True  # a partial batch: let it fill a little (fewer, larger writes)
                await asyncio.sleep(self.linger)
                continue
            lingered = False
            if batch.upto == start:
                if until_idle:
                    return True
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll):
                        await self.wake.wait()
                continue
            if batch.records:
                await sink.write(batch.records)
            self.outbox.ack(batch)
            self.delivered += len(batch.records)
            self.batches += 1

    async def _read(self) -> tuple[int, Batch]:
        # On the loop thread, like the ack (no fsync: the ingest's fsync or SQLite's checkpoint
        # makes cursors durable; a lost ack only means a replay the sink drops): Python work on
        # a second thread would take the GIL in 5 ms slices at each of the ingest's socket reads.
        start, rows = self.outbox.fetch(self.name, self.batch)
        return start, self.outbox.decode(self.name, start, rows)

    def metrics(self) -> dict[str, Any]:
        return {"state": self.state.value, "delivered": self.delivered, "batches": self.batches,
                "failures": self.failures, "last_error": self.last_error}
