"""The registry's clocks: HA's ``off_delay`` (a state set back some seconds after the last
"on", one timer per entity), ``expire_after`` (entities whose last value is too old become
unavailable) and the retry of messages whose render was skipped for time (:class:`Deferred`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from spark.core.events import AvailabilityChanged, EventBus
from spark.hub.entity import EntityRecord


class OffDelay:
    """One pending ``off_delay`` per entity key; ``due(record, state)`` when it fires."""

    def __init__(self, due: Callable[[EntityRecord, str], None]) -> None:
        self._due = due
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def set(self, record: EntityRecord, seconds: float, state: str) -> None:
        """``state`` in ``seconds`` unless another message resets it; without a running event
        loop (a script) the timer is not kept."""
        self.cancel(record)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._handles[record.key] = loop.call_later(seconds, self._fire, record, state)

    def cancel(self, record: EntityRecord) -> None:
        handle = self._handles.pop(record.key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, record: EntityRecord, state: str) -> None:
        self._handles.pop(record.key, None)
        self._due(record, state)


def expire(entities: Iterable[EntityRecord], bus: EventBus, now: float | None = None) -> int:
    """Mark entities whose ``expire_after`` passed as unavailable; returns how many."""
    now = time.time() if now is None else now
    count = 0
    for record in entities:
        if record.expires_at is not None and record.expires_at <= now:
            # expired even while unavailable: an availability "online" later must not bring
            # back the stale value (HA's timer runs regardless)
            record.expires_at = None
            record.expired = True
            if record.available:
                record.available = False
                count += 1
                bus.emit(AvailabilityChanged(now, record.entity_id, False))
    return count


class Deferred:
    """Messages whose template render was skipped because slow templates had used the time
    share (``TemplateBusyError``: not the entity's fault) are kept, the latest per entity and
    route, and applied again ``RETRY_S`` later (doubling to ``MAX_RETRY_S`` while none gets
    through): a burst of template compiles (hundreds of devices announced at once) must not lose
    the retained states that follow it. A newer message on the same route replaces a kept one;
    at most ``limit`` messages and ``max_bytes`` of payload are kept (the oldest go, counted in
    ``dropped``). ``due(items)`` applies them; without a running event loop (a script) they
    wait for a newer message on their route."""

    RETRY_S = 0.1
    MAX_RETRY_S = 2.0
    SLICE = 0.020  # seconds of retries per pass of the event loop (as discovery's slice)

    def __init__(self, due: Callable[[list[tuple[EntityRecord, int, int, str, bytes]]], None],
                 limit: int = 4096, max_bytes: int = 16 * 2**20) -> None:
        self._due = due
        self.limit, self.max_bytes = limit, max_bytes
        self.dropped = 0
        self.bytes = 0
        self._kept: dict[tuple[str, int, int], tuple[EntityRecord, int, int, str, bytes]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._delay = self.RETRY_S
        self._firing = False

    def __len__(self) -> int:
        return len(self._kept)

    def holds(self, record: EntityRecord) -> bool:
        return any(key[0] == record.key for key in self._kept)

    def discard(self, record: EntityRecord, kind: int, index: int) -> None:
        gone = self._kept.pop((record.key, kind, index), None)
        if gone is not None:
            self.bytes -= len(gone[4])

    def add(self, record: EntityRecord, kind: int, index: int, topic: str,
            payload: bytes) -> None:
        self.discard(record, kind, index)  # the newest goes last
        self._kept[(record.key, kind, index)] = (record, kind, index, topic, payload)
        self.bytes += len(payload)
        while self._kept and (len(self._kept) > self.limit or self.bytes > self.max_bytes):
            oldest = self._kept.pop(next(iter(self._kept)))
            self.bytes -= len(oldest[4])
            self.dropped += 1
        if self._handle is None and not self._firing:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._handle = loop.call_later(self._delay, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        """Apply the kept messages, oldest first, for at most ``SLICE`` of this pass of the
        event loop (a render may take its whole budget, longer on a loaded machine): the rest
        go on in the next pass."""
        self._handle = None
        start = time.perf_counter()
        batch = list(self._kept)
        rest: list[tuple[str, int, int]] = []  # not tried in this pass
        done = through = 0
        self._firing = True
        try:
            for i, key in enumerate(batch):
                if done and time.perf_counter() - start >= self.SLICE:
                    rest = batch[i:]
                    break
                item = self._kept.pop(key, None)
                if item is None:  # a newer message replaced it and was applied
                    continue
                self.bytes -= len(item[4])
                done += 1
                self._due([item])  # skipped again: added back, at the end
                through += key not in self._kept
        finally:
            self._firing = False
        if not self._kept:
            self._delay = self.RETRY_S
            return
        if any(key in self._kept for key in rest):
            delay = 0.0  # not all tried yet: on with the next pass
        else:
            self._delay = self.RETRY_S if through else min(self._delay * 2, self.MAX_RETRY_S)
            delay = self._delay
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._handle = loop.call_later(delay, self._fire)
