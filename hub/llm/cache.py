"""The response cache (the seed's tier-1 memory): deterministic answers by
:meth:`LlmRequest.cache_key`, ``ttl`` seconds.

Redis (redis-py asyncio) from ``llm.cache.url``; when no Redis answers at start, an in-process
LRU with a warning (``scripts/up`` still works). When Redis fails mid-run the cache is skipped
(logged once per outage) and requests keep being served; it is tried again after
``retry_after`` seconds. A cache failure never fails a request.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from spark.core.messages.llm import LlmResult
from spark.hub.llm.config import CacheConfig

log = logging.getLogger(__name__)


class LruCache:
    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: str, value: bytes) -> None:
        self._items[key] = (time.monotonic() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class ResponseCache:
    """Use as ``async with``; :meth:`get` / :meth:`put` never raise."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._lru = LruCache(config.lru_size, config.ttl)
        self._redis: aioredis.Redis | None = None
        self._skip_until = 0.0  # Redis failed: skipped until then
        self.hits = self.misses = 0

    @property
    def kind(self) -> Literal["redis", "memory", "redis (down)"]:
        if self._redis is None:
            return "memory"
        return "redis (down)" if self._skip_until else "redis"

    async def __aenter__(self) -> ResponseCache:
        url = self.config.url
        if url is None:
            log.info("LLM cache: in-process LRU (no Redis configured)")
            return self
        client = aioredis.Redis.from_url(url, socket_connect_timeout=self.config.connect_timeout,
                                         socket_timeout=self.config.connect_timeout,
                                         retry=Retry(NoBackoff(), 0))  # fail fast, skip
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            await client.aclose()
            log.warning("LLM cache: no Redis answers at %s (%s); using an in-process LRU of %d "
                        "entries", _safe(url), exc, self.config.lru_size)
            return self
        self._redis = client
        log.info("LLM cache: Redis at %s", _safe(url))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def get(self, key: str) -> LlmResult | None:
        raw = await self._get_raw(key)
        if raw is None:
            self.misses += 1
            return None
        try:
            result = LlmResult.from_payload(raw)
        except ValueError:
            self.misses += 1
            return None
        self.hits += 1
        return result

    async def _get_raw(self, key: str) -> bytes | None:
        if self._redis is None:
            return self._lru.get(key)
        if not self._usable():
            return None
        try:
            value = await self._redis.get(self.config.key_prefix + key)
        except (TimeoutError, RedisError, OSError) as exc:
            self._down(exc)
            return None
        self._up()
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, result: LlmResult) -> None:
        payload = result.to_payload()
        if self._redis is None:
            self._lru.put(key, payload)
            return
        if not self._usable():
            return
        try:
            await self._redis.set(self.config.key_prefix + key, payload,
                                   px=int(self.config.ttl * 1000))
        except (TimeoutError, RedisError, OSError) as exc:
            self._down(exc)
            return
        self._up()

    def _usable(self) -> bool:
        return not self._skip_until or time.monotonic() >= self._skip_until

    def _down(self, exc: BaseException) -> None:
        if not self._skip_until:
            log.warning("LLM cache: Redis failed (%s: %s); serving without the cache, retrying "
                        "in %.0f s", type(exc).__name__, exc, self.config.retry_after)
        self._skip_until = time.monotonic() + self.config.retry_after

    def _up(self) -> None:
        if self._skip_until:
            log.info("LLM cache: Redis is back")
            self._skip_until = 0.0

    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total


def _safe(url: str) -> str:
    """The URL without a password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
