"""Rate limits per client address.

:class:`LoginLimiter` counts every login (or password) attempt *before* the password is
verified, so parallel guesses cannot all slip past the check while the slow argon2 verify
runs; a success gives its attempt back. It also bounds the verifications in flight per client
and in total, so a flood from one address cannot queue work in front of other users' logins.

:class:`RequestLimiter` is the general API limit (``ui.rate_limit``): a sliding window of
requests per client. A client is an IPv4 address or an IPv6 /64 (:func:`client_key`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

MAX_TRACKED = 10_000  # client addresses remembered at once (oldest forgotten first)


def client_key(address: str) -> str:
    """What a client is limited as: its IPv4 address, or its IPv6 address's /64 (one host has a
    whole /64 to itself: limited per address, it could take a new one for every guess)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


class Refused(Exception):
    """Over a limit: ``retry_after`` seconds until the client may try again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Window:
    """Events per key within a sliding window, at most ``limit`` remembered per key."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def wait(self, key: str) -> float:
        """Seconds until ``key`` is under its limit again; 0 when it is now."""
        events = self._events.get(key)
        if not events:
            return 0.0
        now = self._clock()
        while events and events[0] <= now - self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return 0.0
        if len(events) < self.limit:
            return 0.0
        return max(0.001, events[0] + self.window - now)

    def add(self, key: str) -> float:
        events = self._events.pop(key, None) or deque()
        stamp = self._clock()
        events.append(stamp)
        while len(events) > self.limit:
            events.popleft()
        self._events[key] = events  # re-inserted last: dict order is recency
        if len(self._events) > MAX_TRACKED:
            del self._events[next(iter(self._events))]
        return stamp

    def take(self, key: str) -> float:
        """Count one event, or raise Refused when ``key`` is at its limit."""
        wait = self.wait(key)
        if wait > 0:
            raise Refused("too many requests", wait)
        return self.add(key)

    def give_back(self, key: str, stamp: float) -> None:
        events = self._events.get(key)
        if events is not None:
            with contextlib.suppress(ValueError):
                events.remove(stamp)


class LoginLimiter:
    """``attempts`` logins per client within ``window`` seconds (successes do not count);
    at most ``per_client`` verifications of one client, ``per_account`` of one account (all
    unknown usernames are one account; the others wait their turn) and ``total`` of all at
    once. The account bound keeps a flood on one account from many addresses (8 clients, 16
    verifications queued: another user's login waited 14 s on a loaded machine) out of the
    other users' way."""

    def __init__(self, attempts: int, window: float, per_client: int = 2, total: int = 4,
                 clock: Callable[[], float] = time.monotonic, per_account: int = 1) -> None:
        self._window = _Window(attempts, window, clock)
        self.per_client = per_client
        self.per_account = per_account
        self._busy: dict[str, int] = {}
        self._accounts: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}  # in use only
        self._total = asyncio.Semaphore(total)

    @property
    def attempts(self) -> int:
        return self._window.limit

    def retry_after(self, ip: str) -> float:
        """Seconds until ``ip`` may try again; 0 when it may now."""
        return self._window.wait(client_key(ip))

    def failed(self, ip: str) -> None:
        self._window.add(client_key(ip))

    @contextlib.asynccontextmanager
    async def attempt(self, ip: str, account: str = "") -> AsyncIterator[Callable[[], None]]:
        """Count an attempt of ``ip`` now (Refused past the limit), refuse it (still counted)
        with ``per_client`` verifications of ``ip`` in flight, then wait for ``account``'s turn
        (``per_account`` at once) and a verification slot. The body calls the yielded
        ``succeeded()`` to give the attempt back."""
        ip = client_key(ip)
        stamp = self._window.take(ip)
        if self._busy.get(ip, 0) >= self.per_client:
            raise Refused("too many logins at once from this address", 1.0)
        _enter(self._busy, ip)
        turn, users = self._accounts.setdefault(account, (asyncio.Semaphore(self.per_account),
                                                          [0]))
        users[0] += 1
        try:
            async with turn, self._total:
                yield lambda: self._window.give_back(ip, stamp)
        finally:
            _leave(self._busy, ip)
            users[0] -= 1
            if users[0] == 0:
                del self._accounts[account]


def _enter(busy: dict[str, int], key: str) -> None:
    busy[key] = busy.get(key, 0) + 1


def _leave(busy: dict[str, int], key: str) -> None:
    left = busy.pop(key) - 1
    if left > 0:
        busy[key] = left


class RequestLimiter:
    """The general limit: ``requests`` per client within ``window`` seconds."""

    def __init__(self, requests: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = _Window(requests, window, clock)

    def take(self, client: str) -> None:
        self._window.take(client_key(client))
