"""Times as people read them: the hub's local time, and how long ago where that helps.

Devices send timestamps as ISO 8601 text (``2026-12-07T00:12:00+00:00``); the panel shows them
as local time with the age (``00:12:00 · 3 min ago``), never as the raw text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

DAY = 86_400.0


def clock(t: float, now: float | None = None) -> str:
    """HH:MM:SS within the last day, else the date too (local time)."""
    now = time.time() if now is None else now
    dt = datetime.fromtimestamp(t)
    if abs(now - t) < DAY:
        return dt.strftime("%H:%M:%S")
    return dt.strftime("%d %b %Y %H:%M" if abs(now - t) > 300 * DAY else "%d %b %H:%M")


def ago(t: float, now: float | None = None) -> str:
    """``just now``, ``5 s ago``, ``3 min ago``, ``2 h ago``, ``4 d ago`` (``in ...`` ahead)."""
    now = time.time() if now is None else now
    delta = now - t
    span = abs(delta)
    if span < 2:
        return "just now"
    for size, unit in ((DAY, "d"), (3600.0, "h"), (60.0, "min"), (1.0, "s")):
        if span >= size:
            amount = f"{int(span // size)} {unit}"
            return f"{amount} ago" if delta > 0 else f"in {amount}"
    return "just now"  # pragma: no cover - span >= 2 always matched


def parse_time(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 date-time (naive: UTC), or None if it is not one (a date
    alone is not: it stays as it is)."""
    if not isinstance(text, str) or not 16 <= len(text) <= 40 or text[4:5] != "-":
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def when(t: float, now: float | None = None) -> str:
    """Local time and age: ``00:12:00 · 3 min ago``."""
    return f"{clock(t, now)} · {ago(t, now)}"


def humanize(value: object, now: float | None = None) -> str:
    """``value`` as text; an ISO date-time becomes :func:`when`."""
    text = str(value)
    t = parse_time(text) if isinstance(value, str) else None
    return when(t, now) if t is not None else text
