"""The offline queue: what is published while the link is down waits here, bounded and ordered.

A newer retained message for the same topic supersedes a queued one (last value wins, as the
broker would keep it); past the limit the oldest messages are dropped and counted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

Payload = str | bytes | bytearray | int | float | None


@dataclass(slots=True)
class Pending:
    topic: str
    payload: Payload
    qos: int
    retain: bool
    future: asyncio.Future[None] | None = None
    superseded: bool = False


class OfflineQueue:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[Pending] = deque()
        self._retained: dict[str, Pending] = {}
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Pending]:
        return iter(self._items)

    def put(self, pending: Pending) -> list[Pending]:
        """Queue ``pending``; returns the messages dropped to stay within the limit."""
        if pending.retain:
            old = self._retained.get(pending.topic)
            if old is not None and old.future is None:
                old.superseded = True
            self._retained[pending.topic] = pending
        self._items.append(pending)
        victims: list[Pending] = []
        while len(self._items) > self.limit:
            victim = self._items.popleft()
            if self._retained.get(victim.topic) is victim:
                del self._retained[victim.topic]
            if not victim.superseded:
                self.dropped += 1
                victims.append(victim)
        return victims

    def pop(self) -> Pending | None:
        """The oldest message still worth sending, or None when empty."""
        while self._items:
            pending = self._items.popleft()
            if pending.retain and self._retained.get(pending.topic) is pending:
                del self._retained[pending.topic]
            if not pending.superseded:
                return pending
        return None
