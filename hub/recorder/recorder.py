"""The recorder: hub events -> batched writes on a worker thread; the history query API.

It reads the hub's :class:`~core.events.EventBus` through one bounded async subscription and
turns events into rows (:mod:`hub.recorder.rows`) in an in-memory :class:`Backlog` (cheap, on
the event loop). The :class:`BatchWriter` commits them in batches, bounded in time
(``commit_interval``) and size (``max_batch``), on one worker thread, so the loop never waits on
the database; when the store fails it keeps the batch and retries with backoff while rows keep
queueing, up to ``max_backlog`` (past that the oldest are dropped, counted and logged).
Queries run on other threads.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from spark.core.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityFired,
    EntityRemoved,
    EntityUpdated,
    EventBus,
    HubEvent,
    NodeAvailability,
    StateChanged,
)
from spark.core.link import LinkState
from spark.hub.recorder.backlog import Backlog
from spark.hub.recorder.config import RecorderConfig
from spark.hub.recorder.models import (
    BucketPoint,
    EntityMeta,
    EventRecord,
    PurgeResult,
    RecorderError,
    RecorderStats,
    StatePoint,
    epoch,
)
from spark.hub.recorder.rows import RowBuilder
from spark.hub.recorder.store import HistoryStore
from spark.hub.recorder.writer import BatchWriter

if TYPE_CHECKING:
    from spark.hub.registry import Registry

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Time = datetime | float
MAX_ENTITY_ID = 255  # the column's size
EVENT_TYPES: tuple[type[HubEvent], ...] = (
    StateChanged, AvailabilityChanged, EntityFired, EntityAdded, EntityUpdated, EntityRemoved,
    NodeAvailability)


class Recorder:
    """Run with :meth:`run` (until :meth:`stop`); query with :meth:`history` and friends."""

    def __init__(self, config: RecorderConfig, bus: EventBus,
                 registry: Callable[[], Registry | None] | None = None,
                 store: HistoryStore | None = None) -> None:
        self.config = config
        self.bus = bus
        self.store = store or HistoryStore(config.url, config.connect_timeout)
        self.stats = RecorderStats()
        self._backlog = Backlog(config.max_backlog)
        self._rows = RowBuilder(registry, self._excluded, self._backlog.entities)
        self._writer = BatchWriter(config, self.store, self._backlog, self.stats,
                                   before_batch=lambda: None)
        self._exclude_cache: dict[str, bool] = {}
        self._running = False

    @property
    def state(self) -> LinkState:
        return self._writer.state

    # ---- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        """Record until :meth:`stop`; then write what is pending (the store permitting)."""
        if self._running:
            raise RecorderError("a Recorder runs once")
        self._running = True
        # A synchronous listener: one list append per event on the loop, no queue hop or task
        # switch (the hub's ingest rate depends on it); the writer thread does the rest.
        unlisten = self.bus.listen(self._take, EVENT_TYPES)
        self._writer.start()
        log.info("recorder: %r, keeping %g days", self.store, self.config.keep_days)
        try:
            async with asyncio.TaskGroup() as tg:
                purge = tg.create_task(self._purge_loop(), name="recorder-purge")
                await self._writer.run()
                purge.cancel()
        finally:
            unlisten()
            await self._writer.close()

    def stop(self) -> None:
        """Ask :meth:`run` to write what is pending and return."""
        self._writer.stop()

    @property
    def backlog(self) -> int:
        """Rows waiting in memory (not yet committed)."""
        return len(self._backlog)

    @property
    def bus_dropped(self) -> int:
        """Hub events the recorder's subscription had to drop (it fell behind the bus)."""
        return 0  # a synchronous listener never drops; the backlog bound counts drops

    def health(self) -> str:
        """``healthy`` / ``degraded`` (store down, nothing lost yet) / ``unhealthy``."""
        if self.state in (LinkState.UP, LinkState.IDLE):
            return "healthy"
        if self.state is LinkState.CLOSED or self.stats.dropped or self.bus_dropped:
            return "unhealthy"
        return "degraded"

    def snapshot(self) -> dict[str, Any]:
        """State, health, backlog and counters (for the health API and diagnostics)."""
        return {"store": repr(self.store), "state": self.state.value, "health": self.health(),
                "backlog": self.backlog, "bus_dropped": self.bus_dropped,
                **self.stats.as_dict()}

    async def flush(self) -> None:
        """Return once every event emitted before the call is committed (or dropped)."""
        self._writer.hurry()
        await self._backlog.wait_settled()

    # ---- queries ----------------------------------------------------------------------
    async def history(self, entity_id: str, start: Time, end: Time | None = None,
                      bucket: timedelta | None = None, *, initial: bool = False,
                      limit: int | None = None, origin: Time = 0.0
                      ) -> list[StatePoint] | list[BucketPoint]:
        """States of ``entity_id`` in ``[start, end)`` (``end`` defaults to now), oldest
        first. Without ``bucket``: the raw states (``initial`` prepends the state in force at
        ``start``, with its own time; ``limit`` caps the count). With ``bucket``: one
        :class:`BucketPoint` per non-empty bucket, numeric avg/min/max/count and the last
        state; buckets start at ``origin`` + multiples of the width (default: the epoch, so
        hours and days in UTC; pass a local midnight for local days)."""
        lo, hi = epoch(start), epoch(end) if end is not None else time.time()
        if bucket is None:
            return await self._read(self.store.history, entity_id, lo, hi, initial=initial,
                                    limit=limit)
        width = bucket.total_seconds()
        if width <= 0:
            raise ValueError(f"bucket must be positive, not {bucket}")
        return await self._read(self.store.bucketed, entity_id, lo, hi, width, epoch(origin))

    async def events(self, entity_id: str | None = None, start: Time = 0.0,
                     end: Time | None = None, limit: int = 100,
                     event_type: str | None = None) -> list[EventRecord]:
        """Recorded events in ``[start, end)``, newest first, at most ``limit``."""
        hi = epoch(end) if end is not None else time.time()
        return await self._read(self.store.events, entity_id, epoch(start), hi, limit,
                                event_type)

    async def entity(self, entity_id: str) -> EntityMeta | None:
        """How to chart ``entity_id`` (platform, unit, device class), if it was recorded."""
        return await self._read(self.store.entity, entity_id)

    async def purge(self, keep_days: float | None = None, now: float | None = None
                    ) -> PurgeResult:
        """Delete history older than ``keep_days`` (default: the config's) now."""
        days = self.config.keep_days if keep_days is None else keep_days
        before = (time.time() if now is None else now) - days * 86400.0
        result = await self._writer.call(self._purge_sync, before)
        self.stats.purged_states += result.states
        self.stats.purged_events += result.events
        if result.states or result.events:
            log.info("recorder: purged %d states and %d events older than %g days",
                     result.states, result.events, days)
        return result

    async def _read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a query on a worker thread (opening the store if needed: raises
        :class:`RecorderError` while it is down)."""
        if self.state is LinkState.CLOSED:
            raise RecorderError("the recorder is closed")

        def read() -> T:
            self.store.open()
            return fn(*args, **kwargs)

        return await asyncio.to_thread(read)

    # ---- hub events -> rows (event loop) ----------------------------------------------
    def _take(self, event: HubEvent) -> None:
        self.stats.received += 1
        try:
            rows = self._rows.build(event)
        except Exception:  # a malformed event never stops the recorder
            log.exception("recorder: cannot record %r", event)
            return
        if rows:
            self.stats.dropped += self._backlog.add(rows)
        elif not self._backlog.entities:
            return
        self._writer.rows_added()

    def _excluded(self, entity_id: str) -> bool:
        hit = self._exclude_cache.get(entity_id)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(entity_id, p) for p in self.config.exclude)
            if len(entity_id) > MAX_ENTITY_ID:
                log.warning("recorder: not recording %s...: entity id longer than %d",
                            entity_id[:60], MAX_ENTITY_ID)
                hit = True
            self._exclude_cache[entity_id] = hit
        return hit

    # ---- retention --------------------------------------------------------------------
    def _purge_sync(self, before: float) -> PurgeResult:
        self.store.open()
        return self.store.purge(before)

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge()
            except RecorderError as exc:
                log.warning("recorder: retention purge failed (next try in %gs): %s",
                            self.config.purge_interval, exc)
            await asyncio.sleep(self.config.purge_interval)
