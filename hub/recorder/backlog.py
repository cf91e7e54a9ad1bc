"""Rows waiting in memory for the store: bounded, oldest dropped first, with flush waiters."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from spark.hub.recorder.rows import Row
from spark.hub.recorder.store import Batch

log = logging.getLogger(__name__)


class Backlog:
    """States and events in arrival order plus pending entity metadata.

    Every queued row is eventually *settled*: committed, dropped (the backlog was full) or
    given up (the store refused it, or was down when the recorder stopped). ``wait_settled``
    lets a caller wait for everything queued before it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.states: deque[tuple[Any, ...]] = deque()  # rows in STATE_COLUMNS order
        self.events: deque[tuple[Any, ...]] = deque()  # rows in EVENT_COLUMNS order
        self.entities: dict[str, dict[str, Any]] = {}
        self.accepted = 0
        self.settled = 0
        self.dropped = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def __len__(self) -> int:
        """State and event rows waiting (entity metadata is not counted)."""
        return len(self.states) + len(self.events)

    @property
    def pending(self) -> bool:
        return bool(self.states or self.events or self.entities)

    def add(self, rows: list[Row]) -> int:
        """Queue rows; returns how many old rows had to be dropped to stay within the limit."""
        for kind, row in rows:
            (self.states if kind == "state" else self.events).append(row)
        self.accepted += len(rows)
        overflow = len(self) - self.limit
        if overflow <= 0:
            return 0
        for _ in range(overflow):
            s, e = self.states, self.events
            if s and (not e or s[0][5] <= e[0][3]):  # last_updated / time
                s.popleft()
            else:
                e.popleft()
        before, self.dropped = self.dropped, self.dropped + overflow
        self.settle(overflow)
        if before == 0 or before // 10_000 != self.dropped // 10_000:
            log.warning("recorder: backlog full (%d rows); %d oldest row(s) dropped so far",
                        self.limit, self.dropped)
        return overflow

    def take(self, size: int) -> Batch:
        """Up to ``size`` rows (states first, then events) and all pending metadata."""
        batch = Batch(entities=list(self.entities.values()))
        self.entities.clear()
        n = min(size, len(self.states))
        batch.states = [self.states.popleft() for _ in range(n)]
        batch.events = [self.events.popleft() for _ in range(min(size - n, len(self.events)))]
        return batch

    def take_all(self) -> Batch:
        return self.take(len(self))

    def settle(self, count: int) -> None:
        self.settled += count
        if not self._waiters:
            return
        keep = []
        for target, future in self._waiters:
            if self.settled >= target and not self.entities:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep

    async def wait_settled(self) -> None:
        """Until every row queued so far is settled (and pending metadata written)."""
        target = self.accepted
        if self.settled >= target and not self.entities:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        await future
