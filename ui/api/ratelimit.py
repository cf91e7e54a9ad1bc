"""Failed-login counting per client IP: past the limit, every attempt is refused for a while."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED = 10_000  # client IPs remembered at once (oldest forgotten first)


class LoginLimiter:
    def __init__(self, attempts: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, ip: str) -> float:
        """Seconds until ``ip`` may try again; 0 when it may now."""
        failures = self._failures.get(ip)
        if not failures:
            return 0.0
        now = self._clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[ip]
            return 0.0
        if len(failures) < self.attempts:
            return 0.0
        return max(0.0, failures[0] + self.window - now)

    def failed(self, ip: str) -> None:
        failures = self._failures.pop(ip, None) or deque()
        failures.append(self._clock())
        while len(failures) > self.attempts:
            failures.popleft()
        self._failures[ip] = failures  # re-inserted last: dict order is recency
        if len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]
