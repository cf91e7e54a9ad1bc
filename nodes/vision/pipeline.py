"""Plumbing between sources and the detector, free of I/O: latest-frame slots (bounded, drops
counted), occupancy with an off-delay, zones and rate meters. Times are monotonic seconds."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class FrameSlots(Generic[T]):
    """One slot per camera holding only its newest frame. A frame that is replaced before the
    detector took it is dropped and counted, so a slow detector never builds a queue: memory is
    bounded by the number of cameras whatever the rates."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[T, float]] = {}
        self._ready = asyncio.Event()
        self.dropped: dict[str, int] = {}
        self.offered = 0

    def put(self, camera: str, frame: T, at: float) -> None:
        if camera in self._pending:
            self.dropped[camera] = self.dropped.get(camera, 0) + 1
            del self._pending[camera]  # re-inserted last: fair round-robin below
        self._pending[camera] = (frame, at)
        self.offered += 1
        self._ready.set()

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    async def get(self) -> tuple[str, T, float]:
        """The camera whose frame waited longest, its frame and when it was captured."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        camera = next(iter(self._pending))
        frame, at = self._pending.pop(camera)
        return camera, frame, at

    def clear(self) -> None:
        self._pending.clear()


class RateMeter:
    """Events per second over a sliding window (bounded memory)."""

    def __init__(self, window: float = 10.0, maxlen: int = 4096) -> None:
        self.window = window
        self._times: deque[float] = deque(maxlen=maxlen)

    def tick(self, now: float) -> None:
        self._times.append(now)

    def rate(self, now: float) -> float:
        while self._times and now - self._times[0] > self.window:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], 1e-9)
        return (len(self._times) - 1) / span


class OccupancyTracker(Generic[K]):
    """On at the first sighting, off once nothing was seen for ``off_delay`` seconds."""

    def __init__(self, off_delay: float) -> None:
        self.off_delay = off_delay
        self._last_seen: dict[K, float] = {}  # keys currently on

    def is_on(self, key: K) -> bool:
        return key in self._last_seen

    def observe(self, key: K, present: bool, now: float) -> bool | None:
        """Record one inference; returns the new state when it changed, else None."""
        if present:
            was_on = key in self._last_seen
            self._last_seen[key] = now
            return None if was_on else True
        if key in self._last_seen and now - self._last_seen[key] >= self.off_delay:
            del self._last_seen[key]
            return False
        return None

    def expire(self, now: float) -> list[K]:
        """Keys whose off-delay ran out (now off)."""
        gone = [k for k, t in self._last_seen.items() if now - t >= self.off_delay]
        for key in gone:
            del self._last_seen[key]
        return gone

    def next_deadline(self) -> float | None:
        return min(self._last_seen.values()) + self.off_delay if self._last_seen else None


def point_in_polygon(x: float, y: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Even-odd rule (ray casting); points on an edge may fall either way."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x0, y0 = polygon[i]
        x1, y1 = polygon[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    polygon: tuple[tuple[float, float], ...]  # fractions of the frame

    def contains(self, x: float, y: float, width: int, height: int) -> bool:
        return point_in_polygon(x / width, y / height, self.polygon)


def locate(found: Sequence[Any], zones: Sequence[Zone], width: int, height: int
           ) -> list[list[str]]:
    """Per detection, the ids of the zones its anchor (bottom centre) stands in."""
    anchors: list[tuple[float, float]] = [d.anchor for d in found]
    return [[z.id for z in zones if z.contains(x, y, width, height)] for x, y in anchors]


def within(found: Sequence[T], zones_of: Sequence[list[str]], zone_id: str) -> list[T]:
    return [d for d, zs in zip(found, zones_of, strict=True) if zone_id in zs]


def count_labels(labels: Iterable[str], detections: Iterable[Any]) -> dict[str, int]:
    counts = dict.fromkeys(labels, 0)
    for det in detections:
        if det.label in counts:
            counts[det.label] += 1
    return counts
