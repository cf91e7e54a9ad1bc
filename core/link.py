"""One vocabulary for the state of every external link (the broker, each cloud sink and its pump,
the Kafka cloud source), what each state means for health, and the cheap TCP probe."""

from __future__ import annotations

import asyncio
import contextlib
import enum
from typing import Literal

Health = Literal["healthy", "degraded", "unhealthy"]


class LinkState(enum.Enum):
    IDLE = "idle"  # not started yet
    CONNECTING = "connecting"  # connecting, or preparing it (migrations, subscriptions, ...)
    UP = "up"  # connected; the last use worked
    DOWN = "down"  # the last use failed; the next one reconnects (a link without its own loop)
    BACKOFF = "backoff"  # failed; its supervisor waits before it retries
    CLOSED = "closed"  # closed on purpose

    @property
    def health(self) -> Health:
        return _HEALTH[self]

    @classmethod
    def health_of(cls, value: str | None) -> Health:
        """The health of a link reported as a string (an entity state); unknown: unhealthy."""
        try:
            return cls(value).health
        except ValueError:
            return "unhealthy"


_HEALTH: dict[LinkState, Health] = {
    LinkState.IDLE: "healthy", LinkState.CONNECTING: "degraded", LinkState.UP: "healthy",
    LinkState.DOWN: "unhealthy", LinkState.BACKOFF: "degraded", LinkState.CLOSED: "unhealthy"}


async def tcp_reachable(host: str, port: int, seconds: float) -> bool:
    """True when a TCP connect to ``host:port`` succeeds within ``seconds`` (then closed): a
    probe that costs the server nothing but an accept."""
    try:
        async with asyncio.timeout(seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
