"""The hub's in-process event stream: typed events, sync listeners and async subscriptions.

The UI, the recorder and the cloud bridges consume it. A slow async consumer never blocks the
hub: its queue is bounded and overflow is counted (and logged) per subscription.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HubEvent:
    time: float


@dataclass(frozen=True, slots=True)
class StateChanged(HubEvent):
    entity_id: str
    old_state: str | None
    new_state: str | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AvailabilityChanged(HubEvent):
    entity_id: str
    available: bool


@dataclass(frozen=True, slots=True)
class EntityFired(HubEvent):
    """An ``event`` entity fired (doorbell press, low battery ...)."""

    entity_id: str
    event_type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EntityAdded(HubEvent):
    entity_id: str
    platform: str
    device_id: str | None


@dataclass(frozen=True, slots=True)
class EntityUpdated(HubEvent):
    entity_id: str


@dataclass(frozen=True, slots=True)
class EntityRemoved(HubEvent):
    entity_id: str


@dataclass(frozen=True, slots=True)
class NodeAvailability(HubEvent):
    """A Prime Spark node's availability topic changed."""

    node_id: str
    online: bool


@dataclass(frozen=True, slots=True)
class LlmActivity(HubEvent):
    """The LLM router's figures changed: an answer served, a backend failed or was probed, the
    power strategy or the VPN changed (what the panel's routing page follows; no payload: the
    page reads the router's stats)."""


Listener = Callable[[HubEvent], None]


class Subscription:
    """An async iterator over events; bounded, counts what it had to drop."""

    def __init__(self, bus: EventBus, types: tuple[type[HubEvent], ...] | None, maxsize: int):
        self._bus = bus
        self.types = types
        self.queue: asyncio.Queue[HubEvent] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, event: HubEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("event subscriber is behind; %d event(s) dropped", self.dropped)

    async def get(self) -> HubEvent:
        return await self.queue.get()

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __aiter__(self) -> AsyncIterator[HubEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[HubEvent]:
        while True:
            yield await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[tuple[Listener, tuple[type[HubEvent], ...] | None]] = []
        self._subs: set[Subscription] = set()

    @property
    def idle(self) -> bool:
        return not self._listeners and not self._subs

    def listen(
        self, listener: Listener, types: tuple[type[HubEvent], ...] | None = None
    ) -> Callable[[], None]:
        """Call ``listener`` synchronously for each event (keep it fast). Returns an unlisten."""
        item = (listener, types)
        self._listeners.append(item)
        return lambda: self._listeners.remove(item) if item in self._listeners else None

    def subscribe(
        self, types: tuple[type[HubEvent], ...] | None = None, maxsize: int = 10_000
    ) -> Subscription:
        sub = Subscription(self, types, maxsize)
        self._subs.add(sub)
        return sub

    def emit(self, event: HubEvent) -> None:
        for listener, types in self._listeners:
            if types is None or isinstance(event, types):
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener failed on %s", type(event).__name__)
        for sub in self._subs:
            if sub.types is None or isinstance(event, sub.types):
                sub._offer(event)
