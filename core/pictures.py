"""The hub-wide budget for the pictures camera and image entities keep (``hub.max_picture_bytes``).

Each camera / image entity keeps its latest picture (at most ``camera.MAX_IMAGE`` bytes, as
Home Assistant keeps ``_last_image``), but discovery is untrusted: hundreds of announced cameras
sent a picture each would grow the hub by gigabytes. One :class:`PictureBudget` per hub (the
registry makes it and hands it to each entity record, as it does its template engine) counts
the bytes of every kept picture, the decoded picture's ``len``. A new picture that would pass
the budget first drops the least recently updated other pictures (those entities then have no
picture, as before their first one); a picture larger than the whole budget is refused like an
over-size one. Evictions are logged once per burst: a line when they start, none while they go
on, the next after ``BURST_QUIET`` seconds without one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from spark.core.errors import PayloadError

log = logging.getLogger(__name__)

MAX_PICTURE_BYTES = 64 * 2**20  # default budget: 8 cameras' worst pictures, hundreds of JPEGs
BURST_QUIET = 60.0  # seconds without an eviction that end a burst (the next one is logged)


class Holder(Protocol):
    """What the budget reads and writes of an entity: its id and its picture."""

    image: bytes | None

    @property
    def entity_id(self) -> str: ...


class PictureBudget:
    """Pictures kept, by entity id, least recently updated first, within ``limit`` bytes."""

    def __init__(self, limit: int = MAX_PICTURE_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.held = 0  # bytes of the pictures kept
        self.evicted = 0  # pictures dropped for room, since start
        self._kept: dict[str, tuple[Holder, int]] = {}  # insertion order: least recent first
        self._clock = clock
        self._last_eviction: float | None = None

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, entity: Holder, image: bytes) -> None:
        """Set ``entity``'s picture to ``image``, dropping the least recently updated others
        while the total would pass the budget; ``PayloadError`` (nothing changed) when
        ``image`` alone is larger than the budget."""
        size = len(image)
        if size > self.limit:
            raise PayloadError(f"{entity.entity_id}: a picture of {size} bytes is larger than "
                               f"the hub's picture budget (hub.max_picture_bytes = "
                               f"{self.limit})")
        self.release(entity)  # its own old picture is replaced, and it becomes the newest
        dropped = 0
        while self.held + size > self.limit and self._kept:  # bounded: one pass per entity
            oldest = next(iter(self._kept))
            other, other_size = self._kept.pop(oldest)
            other.image = None
            self.held -= other_size
            dropped += 1
        if dropped:
            self._evicted(entity, dropped)
        entity.image = image
        self._kept[entity.entity_id] = (entity, size)
        self.held += size

    def release(self, entity: Holder) -> None:
        """Forget ``entity``'s picture (removed, or about to be replaced): its bytes are free."""
        kept = self._kept.pop(entity.entity_id, None)
        if kept is not None:
            self.held -= kept[1]
            kept[0].image = None

    def _evicted(self, entity: Holder, dropped: int) -> None:
        self.evicted += dropped
        now = self._clock()
        quiet = self._last_eviction is None or now - self._last_eviction >= BURST_QUIET
        self._last_eviction = now
        if quiet:
            log.warning("picture budget full (hub.max_picture_bytes = %d): a picture for %s "
                        "dropped the %d least recently updated one(s); further drops are not "
                        "logged until none happens for %gs (%d dropped since start)",
                        self.limit, entity.entity_id, dropped, BURST_QUIET, self.evicted)
