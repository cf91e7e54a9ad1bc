"""The recorder: hub events -> batched writes on a worker thread; the history query API.

It reads the hub's :class:`~hub.events.EventBus` through one bounded async subscription and
turns events into rows in memory (cheap, on the event loop). One writer task commits them in
batches, bounded in time (``commit_interval``) and size (``max_batch``), on a single worker
thread, so the loop never waits on the database. When the store fails, the batch in hand is
kept and retried with exponential backoff while new rows keep queueing, up to ``max_backlog``
rows in all; past that the oldest are dropped, counted and logged. Once the store is back the
backlog drains batch after batch without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from hub.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityFired,
    EntityRemoved,
    EntityUpdated,
    EventBus,
    HubEvent,
    NodeAvailability,
    StateChanged,
    Subscription,
)
from hub.recorder.backlog import Backlog
from hub.recorder.config import RecorderConfig
from hub.recorder.models import (
    BucketPoint,
    EntityMeta,
    EventRecord,
    PurgeResult,
    RecorderError,
    RecorderState,
    RecorderStats,
    StatePoint,
    epoch,
)
from hub.recorder.rows import RowBuilder
from hub.recorder.store import Batch, HistoryStore

if TYPE_CHECKING:
    from hub.registry import Registry

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
Time = datetime | float
EVENT_TYPES: tuple[type[HubEvent], ...] = (
    StateChanged, AvailabilityChanged, EntityFired, EntityAdded, EntityUpdated, EntityRemoved,
    NodeAvailability)
STOP_TRIES = 2  # write attempts per batch once stopping, before what is left is given up


class Recorder:
    """Run with :meth:`run` (until :meth:`stop`); query with :meth:`history` and friends."""

    def __init__(self, config: RecorderConfig, bus: EventBus,
                 registry: Callable[[], Registry | None] | None = None,
                 store: HistoryStore | None = None) -> None:
        self.config = config
        self.bus = bus
        self.store = store or HistoryStore(config.url, config.connect_timeout)
        self.state = RecorderState.IDLE
        self.stats = RecorderStats()
        self._backlog = Backlog(config.max_backlog)
        self._rows = RowBuilder(registry, self._excluded, self._backlog.entities)
        self._exclude_cache: dict[str, bool] = {}
        self._sub: Subscription | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._has_rows = asyncio.Event()
        self._urgent = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._first_at = 0.0  # loop time the oldest pending row arrived

    # ---- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        """Record until :meth:`stop`; then write what is pending (the store permitting)."""
        if self._sub is not None:
            raise RecorderError("a Recorder runs once")
        self._sub = self.bus.subscribe(EVENT_TYPES, self.config.queue_size)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="recorder-writer")
        log.info("recorder: %r, keeping %g days", self.store, self.config.keep_days)
        try:
            async with asyncio.TaskGroup() as tg:
                consume = tg.create_task(self._consume(), name="recorder-consume")
                purge = tg.create_task(self._purge_loop(), name="recorder-purge")
                await self._write_loop()
                consume.cancel()
                purge.cancel()
        finally:
            self._sub.close()
            self._drain_subscription()
            self._give_up(self._backlog.take_all(), "the recorder stopped")
            with contextlib.suppress(RecorderError):
                await self._in_writer(self.store.close)
            self._writer.shutdown(wait=False)
            self.state = RecorderState.CLOSED

    def stop(self) -> None:
        """Ask :meth:`run` to write what is pending and return."""
        self._stopping = True
        self._stop_requested.set()
        self._has_rows.set()
        self._urgent.set()

    @property
    def backlog(self) -> int:
        """Rows waiting in memory (not yet committed)."""
        return len(self._backlog)

    @property
    def bus_dropped(self) -> int:
        """Hub events the recorder's subscription had to drop (it fell behind the bus)."""
        return self._sub.dropped if self._sub is not None else 0

    def health(self) -> str:
        """``healthy`` / ``degraded`` (store down, nothing lost yet) / ``unhealthy``."""
        if self.state in (RecorderState.CONNECTED, RecorderState.IDLE):
            return "healthy"
        if self.state is RecorderState.CLOSED or self.stats.dropped or self.bus_dropped:
            return "unhealthy"
        return "degraded"

    async def flush(self) -> None:
        """Return once every event emitted before the call is committed (or dropped)."""
        self._drain_subscription()
        if self._backlog.pending:
            self._urgent.set()
            self._has_rows.set()
        await self._backlog.wait_settled()

    # ---- queries ----------------------------------------------------------------------
    async def history(self, entity_id: str, start: Time, end: Time | None = None,
                      bucket: timedelta | None = None, *, initial: bool = False,
                      limit: int | None = None) -> list[StatePoint] | list[BucketPoint]:
        """States of ``entity_id`` in ``[start, end)`` (``end`` defaults to now), oldest
        first. Without ``bucket``: the raw states (``initial`` prepends the state in force at
        ``start``). With ``bucket``: one point per non-empty bucket aligned to multiples of
        the width since the epoch (UTC), numeric avg/min/max/count and the last state."""
        lo, hi = epoch(start), epoch(end) if end is not None else time.time()
        if bucket is None:
            return await self._read(self.store.history, entity_id, lo, hi, initial=initial,
                                    limit=limit)
        width = bucket.total_seconds()
        if width <= 0:
            raise ValueError(f"bucket must be positive, not {bucket}")
        return await self._read(self.store.bucketed, entity_id, lo, hi, width)

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
        result = await self._in_writer(self._purge_sync, before)
        self.stats.purged_states += result.states
        self.stats.purged_events += result.events
        if result.states or result.events:
            log.info("recorder: purged %d states and %d events older than %g days",
                     result.states, result.events, days)
        return result

    async def _read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a query on a worker thread (opening the store if needed: raises
        :class:`RecorderError` while it is down)."""
        if self.state is RecorderState.CLOSED:
            raise RecorderError("the recorder is closed")

        def read() -> T:
            self.store.open()
            return fn(*args, **kwargs)

        return await asyncio.to_thread(read)

    # ---- hub events -> rows (event loop) ----------------------------------------------
    async def _consume(self) -> None:
        assert self._sub is not None
        while True:
            self._take(await self._sub.get())

    def _drain_subscription(self) -> None:
        queue = self._sub.queue if self._sub is not None else None
        while queue is not None and not queue.empty():
            self._take(queue.get_nowait())

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
        if not self._has_rows.is_set():
            self._first_at = asyncio.get_running_loop().time()
            self._has_rows.set()
        if len(self._backlog) >= self.config.max_batch:
            self._urgent.set()

    def _excluded(self, entity_id: str) -> bool:
        hit = self._exclude_cache.get(entity_id)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(entity_id, p) for p in self.config.exclude)
            self._exclude_cache[entity_id] = hit
        return hit

    # ---- writing ----------------------------------------------------------------------
    async def _write_loop(self) -> None:
        held: Batch | None = None  # a batch that failed: retried as is
        delay, tries = self.config.retry_min, 0
        while True:
            if held is None:
                if self.store.is_open and not await self._wait_for_rows():
                    return
                if self._stopping and not self.store.is_open and not self._backlog.pending:
                    return
                held = self._take_batch()
            if not self.store.is_open:
                self.state = RecorderState.CONNECTING
            started = time.perf_counter()
            try:
                await self._in_writer(self._write_sync, held)
            except Exception as exc:
                tries += 1
                self._failed(exc, held)
                transient = isinstance(exc, RecorderError) and exc.transient
                if (self._stopping and tries >= STOP_TRIES) or (not transient and tries >= 3):
                    self._give_up(held, str(exc))
                    held, tries = None, 0
                    if self._stopping:
                        return
                    continue
                await self._pause(delay)
                delay = min(delay * 2, self.config.retry_max)
                continue
            if self.state is not RecorderState.CONNECTED:
                level = logging.WARNING if self.stats.failures else logging.INFO
                log.log(level, "recorder: %r is available (backlog %d rows)", self.store,
                        self.backlog)
            self.state = RecorderState.CONNECTED
            self._committed(held, time.perf_counter() - started)
            held, delay, tries = None, self.config.retry_min, 0

    def _write_sync(self, batch: Batch) -> None:
        try:
            self.store.open()
            if len(batch):
                self.store.write(batch)
        except BaseException:
            self.store.close()  # rebuilt on the next try: no broken pooled connections
            raise

    def _purge_sync(self, before: float) -> PurgeResult:
        self.store.open()
        return self.store.purge(before)

    async def _wait_for_rows(self) -> bool:
        """Wait until a batch is due: full, urgent, or its oldest row ``commit_interval``
        old. False when stopping with nothing left."""
        while not self._backlog.pending:
            if self._stopping:
                return False
            self._has_rows.clear()
            await self._has_rows.wait()
        due = self._first_at + self.config.commit_interval - asyncio.get_running_loop().time()
        if due > 0 and self.backlog < self.config.max_batch and not self._urgent.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(due):
                    await self._urgent.wait()
        if not self._stopping:
            self._urgent.clear()
        return True

    def _take_batch(self) -> Batch:
        self._drain_subscription()
        batch = self._backlog.take(self.config.max_batch)
        if self._backlog.pending:  # the rest is due at once
            self._has_rows.set()
        else:
            self._has_rows.clear()
        return batch

    def _committed(self, batch: Batch, seconds: float) -> None:
        stats = self.stats
        stats.states_written += len(batch.states)
        stats.events_written += len(batch.events)
        stats.commits += 1
        stats.last_commit = time.time()
        stats.last_commit_rows = len(batch)
        stats.last_commit_seconds = seconds
        self._backlog.settle(len(batch.states) + len(batch.events))

    def _failed(self, exc: BaseException, batch: Batch) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        first = self.state is not RecorderState.BACKOFF
        self.state = RecorderState.BACKOFF
        if isinstance(exc, RecorderError):
            log.log(logging.WARNING if first else logging.DEBUG,
                    "recorder: store failed, keeping %d rows in memory and retrying: %s",
                    len(batch) + self.backlog, exc)
        else:
            log.exception("recorder: unexpected error writing %d rows", len(batch))

    def _give_up(self, batch: Batch, why: str) -> None:
        lost = len(batch.states) + len(batch.events)
        self.stats.lost += lost
        self._backlog.settle(lost)
        if lost:
            log.error("recorder: %d rows not recorded: %s", lost, why)

    async def _pause(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop_requested.wait()

    async def _in_writer(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._writer is None:
            raise RecorderError("the recorder is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(*args, **kwargs))

    async def _purge_loop(self) -> None:
        while True:
            try:
                await self.purge()
            except RecorderError as exc:
                log.warning("recorder: retention purge failed (next try in %gs): %s",
                            self.config.purge_interval, exc)
            await asyncio.sleep(self.config.purge_interval)
