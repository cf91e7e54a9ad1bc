"""The registry's clocks: HA's ``off_delay`` (a state set back some seconds after the last
"on", one timer per entity) and ``expire_after`` (entities whose last value is too old become
unavailable)."""

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
