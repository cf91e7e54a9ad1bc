"""The store link: commits the backlog in batches on one worker thread, retrying with backoff.

One supervisor loop (:meth:`BatchWriter.run`): wait until a batch is due (``max_batch`` rows,
or the oldest row ``commit_interval`` old, or a flush / stop), take it from the backlog and
commit it on the writer thread. On a failure the batch is *held* and retried as is after an
exponential backoff (``retry_min`` .. ``retry_max``), the broken engine is disposed and rebuilt
on the next try, and new rows keep queueing in the (bounded) backlog meanwhile. Once the store
answers again the backlog drains batch after batch without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from spark.core.backoff import Backoff
from spark.core.link import LinkState
from spark.hub.recorder.backlog import Backlog
from spark.hub.recorder.config import RecorderConfig
from spark.hub.recorder.models import RecorderError, RecorderStats
from spark.hub.recorder.store import Batch, HistoryStore

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
STOP_TRIES = 2  # write attempts per batch once stopping, before what is left is given up


@dataclass(slots=True)
class _Salvage:
    states: int = 0
    events: int = 0
    refused: int = 0
    first_error: str | None = None


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, RecorderError) and exc.transient


class BatchWriter:
    def __init__(self, config: RecorderConfig, store: HistoryStore, backlog: Backlog,
                 stats: RecorderStats, before_batch: Callable[[], None]) -> None:
        self.config = config
        self.store = store
        self.backlog = backlog
        self.stats = stats
        self.state = LinkState.IDLE
        self._before_batch = before_batch  # the recorder drains its subscription here
        self._executor: ThreadPoolExecutor | None = None
        self._has_rows = asyncio.Event()
        self._urgent = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._first_at = 0.0  # loop time the oldest pending row arrived

    # ---- called by the recorder (event loop) ------------------------------------------
    def start(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="recorder-writer")

    def stop(self) -> None:
        self._stopping = True
        self._stop_requested.set()
        self._has_rows.set()
        self._urgent.set()

    def rows_added(self) -> None:
        if not self._has_rows.is_set():
            self._first_at = asyncio.get_running_loop().time()
            self._has_rows.set()
        if len(self.backlog) >= self.config.max_batch:
            self._urgent.set()

    def hurry(self) -> None:
        """Commit what is pending now rather than at its deadline."""
        if self.backlog.pending:
            self._urgent.set()
            self._has_rows.set()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on the writer thread (after the writes queued before it)."""
        if self._executor is None:
            raise RecorderError("the recorder is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def close(self) -> None:
        """Give up what is still pending, close the store, end the thread."""
        self.give_up(self.backlog.take_all(), "the recorder stopped")
        with contextlib.suppress(RecorderError):
            await self.call(self.store.close)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self.state = LinkState.CLOSED

    # ---- the loop ---------------------------------------------------------------------
    async def run(self) -> None:
        """Until stopped and drained (or, stopping, the store still fails)."""
        held: Batch | None = None  # a batch that failed: retried as is
        backoff, tries = Backoff(self.config.retry_min, self.config.retry_max, jitter=0.0), 0
        while True:
            if held is None:
                if self.store.is_open and not await self._wait_for_rows():
                    return
                if self._stopping and not self.store.is_open and not self.backlog.pending:
                    return
                held = self._take_batch()  # while the store is closed: maybe empty, to reopen
            if not self.store.is_open:
                self.state = LinkState.CONNECTING
            started = time.perf_counter()
            try:
                await self.call(self._write_sync, held)
            except Exception as exc:
                tries += 1
                self._failed(exc, held)
                if not _transient(exc) and await self._salvage(held):
                    self.state = LinkState.UP
                    held, tries = None, 0
                    continue  # the rows it refused are dropped, the others written
                if self._stopping and tries >= STOP_TRIES:
                    self.give_up(held, str(exc))
                    return
                await backoff.wait(until=self._stop_requested)
                continue
            if self.state is not LinkState.UP:
                level = logging.WARNING if self.stats.failures else logging.INFO
                log.log(level, "recorder: %r is available (backlog %d rows)", self.store,
                        len(self.backlog))
            self.state = LinkState.UP
            self._committed(held, time.perf_counter() - started)
            held, tries = None, 0
            backoff.reset()

    def _write_sync(self, batch: Batch) -> None:
        try:
            self.store.open()
            if len(batch):
                self.store.write(batch)
        except BaseException as exc:
            if not isinstance(exc, RecorderError) or exc.transient:
                self.store.close()  # rebuilt on the next try: no broken pooled connections
            raise

    async def _salvage(self, batch: Batch) -> bool:
        """The store refused ``batch`` (not a link error): write its rows one transaction
        each and drop only those refused. Rows done leave ``batch``, so when the link fails
        midway the retry writes only the rest (no duplicates). True when all are done."""
        progress = _Salvage()
        try:
            await self.call(self._salvage_sync, batch, progress)
            return True
        except Exception as exc:
            self._failed(exc, batch)
            return False
        finally:
            self.stats.states_written += progress.states
            self.stats.events_written += progress.events
            self.stats.lost += progress.refused
            self.backlog.settle(progress.states + progress.events + progress.refused)
            if progress.refused:
                log.error("recorder: the store refused %d row(s), dropped; first: %s",
                          progress.refused, progress.first_error)

    def _salvage_sync(self, batch: Batch, progress: _Salvage) -> None:
        for kind in ("entities", "states", "events"):
            rows = getattr(batch, kind)
            while rows:
                try:
                    self._write_sync(Batch(**{kind: [rows[0]]}))
                except Exception as exc:
                    if _transient(exc):
                        raise
                    progress.refused += kind != "entities"
                    progress.first_error = progress.first_error or f"{exc} in {rows[0]!r:.200}"
                else:
                    progress.states += kind == "states"
                    progress.events += kind == "events"
                rows.pop(0)

    async def _wait_for_rows(self) -> bool:
        """Wait until a batch is due: full, urgent, or its oldest row ``commit_interval``
        old. False when stopping with nothing left."""
        while not self.backlog.pending:
            if self._stopping:
                return False
            self._has_rows.clear()
            await self._has_rows.wait()
        due = self._first_at + self.config.commit_interval - asyncio.get_running_loop().time()
        if (due > 0 and len(self.backlog) < self.config.max_batch
                and not self._urgent.is_set()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(due):
                    await self._urgent.wait()
        if not self._stopping:
            self._urgent.clear()
        return True

    def _take_batch(self) -> Batch:
        self._before_batch()
        batch = self.backlog.take(self.config.max_batch)
        if self.backlog.pending:  # the rest is due at once
            self._has_rows.set()
        else:
            self._has_rows.clear()
        return batch

    # ---- bookkeeping ------------------------------------------------------------------
    def _committed(self, batch: Batch, seconds: float) -> None:
        stats = self.stats
        stats.states_written += len(batch.states)
        stats.events_written += len(batch.events)
        stats.commits += 1
        stats.last_commit = time.time()
        stats.last_commit_rows = len(batch)
        stats.last_commit_seconds = seconds
        self.backlog.settle(len(batch.states) + len(batch.events))

    def _failed(self, exc: BaseException, batch: Batch) -> None:
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        rows = len(batch) + len(self.backlog)
        if not _transient(exc):  # the rows, not the link: salvaged row by row
            log.warning("recorder: the store refused a batch of %d rows, writing them one by "
                        "one: %s", len(batch), exc, exc_info=not isinstance(exc, RecorderError))
            return
        first = self.state is not LinkState.BACKOFF
        self.state = LinkState.BACKOFF
        log.log(logging.WARNING if first else logging.DEBUG,
                "recorder: store failed, keeping %d rows in memory and retrying: %s", rows, exc)

    def give_up(self, batch: Batch, why: str) -> None:
        lost = len(batch.states) + len(batch.events)
        self.stats.lost += lost
        self.backlog.settle(lost)
        if lost:
            log.error("recorder: %d rows not recorded: %s", lost, why)
