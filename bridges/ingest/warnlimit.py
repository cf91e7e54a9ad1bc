"""At most one log line per (topic, reason) and period: a device that keeps publishing the
same bad payload is reported once an hour with how many more were dropped, not every time."""

from __future__ import annotations

MAX_KEYS = 4096  # distinct (topic, reason) pairs remembered; beyond, new ones are only counted


class WarnLimiter:
    """``allow(key, now)``: None to stay quiet, else how many were suppressed for ``key``
    since its last line (0 the first time). ``now`` is a monotonic time in seconds."""

    def __init__(self, period: float = 3600.0, max_keys: int = MAX_KEYS) -> None:
        self.period = period
        self.max_keys = max_keys
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # key -> (said at, quiet)
        self.unreported = 0  # suppressed because the table was full

    def allow(self, key: tuple[str, str], now: float) -> int | None:
        seen = self._last.get(key)
        if seen is not None and now - seen[0] < self.period:
            self._last[key] = (seen[0], seen[1] + 1)
            return None
        if seen is None and len(self._last) >= self.max_keys:
            self._forget(now)
            if len(self._last) >= self.max_keys:
                self.unreported += 1
                return None
        self._last[key] = (now, 0)
        return seen[1] if seen is not None else 0

    def _forget(self, now: float) -> None:
        for key in [k for k, (at, _) in self._last.items() if now - at >= self.period]:
            del self._last[key]
