"""What keeps the registry bounded against hostile discovery: entity limits, who a config counts
against, the template-budget error behind a rejected payload, and the discovery intake that
spreads a flood of configs over passes of the event loop."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from spark.core.discovery import DiscoveredEntity
from spark.core.errors import SparkError
from spark.core.pictures import MAX_PICTURE_BYTES
from spark.hub.entity import EntityRecord
from spark.hub.templates import TemplateBudgetError, TemplateBusyError

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseException)

DISCOVERY_SLICE = 0.020  # seconds of discovery work per pass of the event loop
TRIM_AFTER = 2_000  # a backlog of this many configs, once drained, ends with release_memory()
MAX_BACKLOG = 200_000  # discovery messages waiting for a later pass (then: dropped, logged)
MAX_DISCOVERY_BYTES = 64 * 2**20  # of the configs held (topic + payload, the latest per topic)


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    """How many entities discovery may create (``hub.max_entities*`` in the config), and the
    bytes of configs (``hub.max_discovery_bytes``) and pictures (``hub.max_picture_bytes``) the
    registry holds for them."""

    max_entities: int = 20_000
    max_entities_per_publisher: int = 2_000
    max_discovery_bytes: int = MAX_DISCOVERY_BYTES
    max_picture_bytes: int = MAX_PICTURE_BYTES


class RegistryFull(SparkError):
    """A discovery config refused because a :class:`RegistryLimits` limit is reached."""


class Quota:
    """Who each entity counts against (:func:`publisher_of`) and the :class:`RegistryLimits`:
    a config over a limit is refused with one log line per publisher (and ``"*"`` for the
    total) until it drops below the limit again."""

    def __init__(self, limits: RegistryLimits) -> None:
        self.limits = limits
        self._total = 0  # entities charged
        self._per_publisher: Counter[str] = Counter()
        self._at_limit: set[str] = set()  # publishers (and "*" for the total) logged at limit

    @property
    def at_limit(self) -> bool:
        return bool(self._at_limit)

    def admit(self, key: str, spec: DiscoveredEntity) -> str:
        """The publisher a new entity counts against; ``RegistryFull`` when a limit is hit."""
        publisher = publisher_of(spec)
        limits = self.limits
        total = self._total
        if total >= limits.max_entities:
            self._hit("*", f"the registry has {total} entities "
                      f"(hub.max_entities = {limits.max_entities})", key)
        if self._per_publisher[publisher] >= limits.max_entities_per_publisher:
            self._hit(publisher, f"publisher {publisher!r} has "
                      f"{self._per_publisher[publisher]} entities "
                      f"(hub.max_entities_per_publisher = "
                      f"{limits.max_entities_per_publisher})", key)
        return publisher

    def charge(self, record: EntityRecord, publisher: str) -> None:
        """A new entity counts against ``publisher`` (kept on the record, for :meth:`release`)."""
        record.publisher = publisher
        self._total += 1
        self._per_publisher[publisher] += 1

    def release(self, record: EntityRecord) -> None:
        publisher, record.publisher = record.publisher, None
        if publisher is not None:
            self._total -= 1
            self._per_publisher[publisher] -= 1
            if self._per_publisher[publisher] <= 0:
                del self._per_publisher[publisher]
            if self._per_publisher[publisher] < self.limits.max_entities_per_publisher:
                self._at_limit.discard(publisher)
        if self._total < self.limits.max_entities:
            self._at_limit.discard("*")

    def _hit(self, who: str, why: str, key: str) -> None:
        reason = f"limit reached: {why}; refused {key[:80]!r}"
        if who not in self._at_limit:  # one line per publisher until it drops below again
            self._at_limit.add(who)
            log.error("registry limit reached: %s; further discovery configs are refused "
                      "(raise the limit in the hub config if this is expected)", why)
        raise RegistryFull(reason)


def publisher_of(spec: DiscoveredEntity) -> str:
    """Who a config counts against: its discovery node id, else its device, else its origin."""
    if spec.node_id:
        return spec.node_id
    device = spec.device
    if device is not None and (device.identifiers or device.connections):
        first = device.identifiers[0] if device.identifiers else ":".join(device.connections[0])
        return f"device:{first}"
    if spec.origin is not None:
        return f"origin:{spec.origin.name}"
    return "-"


def _behind(exc: BaseException, kind: type[E]) -> E | None:
    """The ``kind`` error behind ``exc`` (platforms re-raise render errors as
    ``PayloadError``; a few causes deep at most), or None."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def busy_error(exc: BaseException) -> TemplateBusyError | None:
    """The ``TemplateBusyError`` behind ``exc`` (a render skipped for the time share)."""
    return _behind(exc, TemplateBusyError)


def budget_error(exc: BaseException) -> TemplateBudgetError | None:
    """The ``TemplateBudgetError`` behind ``exc`` (the template ran out of its own budget)."""
    return _behind(exc, TemplateBudgetError)


class Incoming(Protocol):
    """What discovery reads of a message: a paho message, or a :class:`Pending` one."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes | bytearray: ...


class Pending:
    """A discovery message as the intake keeps it: its topic and payload only. A paho message
    with its delivery info costs about 850 bytes more, and a Zigbee2MQTT restart queues
    thousands in the backlog (20,480 configs: 17 MB of the hub's peak); and paho decodes its
    topic on each access, where one string serves the held table and the entity's config."""

    __slots__ = ("payload", "topic")

    def __init__(self, topic: str, payload: bytes | bytearray) -> None:
        self.topic = topic
        self.payload = payload


class DiscoveryIntake:
    """Runs ``handle`` on discovery messages, at most ``DISCOVERY_SLICE`` of them per pass of the
    event loop: the rest wait in order for the next passes (a flood of configs must not stall
    the loop: /health, RPC, the panel). Without a running loop (a script, a unit test) each
    message is handled at once.

    It also bounds the bytes discovery may make the hub hold: the latest config of every
    discovery topic (topic + payload) counts against ``max_bytes`` until an empty payload
    removes it, and so do the messages waiting in the backlog. A config that would pass the
    limit is refused (``dropped(msg, why, True)``; one log line until a config is removed): the
    entity count alone let 1,000 configs of 175 KB take 411 MB."""

    def __init__(self, handle: Callable[[Incoming], None],
                 dropped: Callable[[Incoming, str, bool], None],
                 max_bytes: int = MAX_DISCOVERY_BYTES) -> None:
        self._handle = handle
        self._dropped = dropped
        self.max_bytes = max_bytes
        self.held = 0  # bytes of the configs held (the latest per discovery topic)
        self._held: dict[str, int] = {}  # discovery topic -> bytes of its latest config
        self._queued = 0  # bytes of the messages in the backlog
        self._over = False  # the byte limit is logged once until a config is removed
        self._backlog: deque[Pending] = deque()
        self._used = 0.0
        self._reset_pending = False
        self._draining = False
        self._drops = 0
        self._burst = 0  # messages that waited in the backlog since the last release_memory()

    def __len__(self) -> int:
        return len(self._backlog)

    def take(self, message: Incoming) -> None:
        msg = Pending(message.topic, message.payload)
        refused = self._hold(msg)
        if refused is not None:
            self._dropped(msg, refused, True)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._handle(msg)
            return
        if not self._backlog and self._used < DISCOVERY_SLICE:
            self._timed(loop, msg)
            return
        size = len(msg.topic) + len(msg.payload)
        if len(self._backlog) >= MAX_BACKLOG or self._queued + size > self.max_bytes:
            self._drops += 1
            if self._drops % 10_000 == 1:  # a line per 10,000, not a flood
                log.error("discovery backlog full (%d messages, %d bytes): dropped %s "
                          "(%d so far)", len(self._backlog), self._queued, msg.topic[:120],
                          self._drops)
            self._dropped(msg, "discovery backlog full", False)
            return
        self._queued += size
        self._backlog.append(msg)
        self._burst += 1
        if not self._draining:
            self._draining = True
            loop.call_soon(self._drain)

    def _hold(self, msg: Pending) -> str | None:
        """Count ``msg``'s config as held (an empty payload lets its topic's go); why not when
        it would pass ``max_bytes``."""
        old = self._held.get(msg.topic, 0)
        if not msg.payload:
            if old:
                del self._held[msg.topic]
                self.held -= old
                self._over = False
            return None
        size = len(msg.topic) + len(msg.payload)
        if self.held - old + size <= self.max_bytes:
            self._held[msg.topic] = size
            self.held += size - old
            return None
        why = (f"discovery configs hold {self.held:,} bytes (hub.max_discovery_bytes = "
               f"{self.max_bytes:,})")
        if not self._over:
            self._over = True
            log.warning("registry limit reached: %s; refused %.120s (%d bytes) and the "
                        "configs after it until one is removed", why, msg.topic, size)
        return why

    def _timed(self, loop: asyncio.AbstractEventLoop, msg: Pending) -> None:
        if not self._reset_pending:  # the slice is this pass's: renewed at the next one
            self._reset_pending = True
            loop.call_soon(self._renew)
        start = time.perf_counter()
        try:
            self._handle(msg)
        finally:
            self._used += time.perf_counter() - start

    def _renew(self) -> None:
        self._used = 0.0
        self._reset_pending = False

    def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        self._renew()
        while self._backlog and self._used < DISCOVERY_SLICE:
            msg = self._backlog.popleft()
            self._queued -= len(msg.topic) + len(msg.payload)
            self._timed(loop, msg)
        if self._backlog:
            loop.call_soon(self._drain)
        else:
            self._draining = False
            if self._burst >= TRIM_AFTER:  # a flood is over: give its garbage back to the OS
                self._burst = 0
                loop.call_later(0.5, release_memory)


def release_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc ``malloc_trim``; elsewhere nothing).

    A discovery flood (a Zigbee2MQTT restart re-announcing thousands of devices) leaves the
    parsed payloads' memory free but held by the process: 4,096 devices left the hub at 168 MB
    RSS, 144 MB after a trim (``bench discovery``). The trim takes milliseconds."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
