"""The edge-first LLM router: cache → route (power strategy, VPN, breakers, preference) → the
first backend that answers → cache store. Every answer carries :class:`LlmSource`.

Failover happens only before the first token reached the caller: a connection error, a 5xx, a
timeout (``first_token_timeout``) opens that backend's breaker and the next backend is tried;
a 4xx moves on without opening it. After the first token, an error is
:class:`~hub.llm.errors.StreamBroken` (no second answer glued onto half of the first).

Use as ``async with LlmRouter(config) as router``: it opens the cache and runs one probe task
per backend until the block ends. ``backends`` (a factory's result) replaces building them from
the config, for callers that wrap a backend. ``on_result`` is called once per answer served
(edge, cloud, api or cached) with its :class:`LlmInferenceMessage`; the hub publishes it for the
cloud bridge (``Hub.publish_inference``). It must not block; an error in it is logged, never
the caller's.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from spark.core.messages.llm import (
    STRATEGIES,
    LlmChunk,
    LlmEvent,
    LlmInferenceMessage,
    LlmRequest,
    LlmResult,
    LlmSource,
    Strategy,
    Tier,
)
from spark.hub.llm.backends.base import Delta, LlmBackend, build_backend
from spark.hub.llm.cache import ResponseCache
from spark.hub.llm.config import LlmConfig
from spark.hub.llm.errors import BackendFailed, NoBackend, StreamBroken
from spark.hub.llm.health import Breaker, probe_loop
from spark.hub.llm.routing import Route, route
from spark.hub.llm.stats import BackendStats, Recorder, RoutingStats

log = logging.getLogger(__name__)


class BackendModels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str
    tier: Tier
    type: str
    healthy: bool | None
    breaker: str
    models: list[str]
    loaded: list[str]
    error: str | None = None


class Embeddings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str
    tier: Tier
    model: str
    embeddings: list[list[float]]


class _Slot:
    """One backend with its breaker and counters (what :func:`routing.route` sorts)."""

    def __init__(self, backend: LlmBackend, cooldown: float) -> None:
        self.backend, self.name, self.tier = backend, backend.name, backend.tier
        self.breaker = Breaker(backend.name, cooldown)
        self.recorder = Recorder()

    def allows(self) -> bool:
        return self.breaker.allows()


class LlmRouter:
    """What the web layer, the hub's RPC and the voice path call (see :class:`LlmService`)."""

    def __init__(self, config: LlmConfig, backends: Sequence[LlmBackend] | None = None,
                 on_result: Callable[[LlmInferenceMessage], None] | None = None) -> None:
        self.config = config
        self.on_result = on_result
        self._given = list(backends) if backends is not None else None
        self._slots: dict[str, _Slot] = {}
        self.cache = ResponseCache(config.cache)
        self.strategy: Strategy = "edge-first"
        self.vpn_up: bool | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._probed = asyncio.Event()  # every backend probed at least once
        self.last_tier: Tier | None = None
        self.on_activity: Callable[[], None] | None = None  # its figures changed (see _changed)

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> LlmRouter:
        if self._slots:
            raise RuntimeError("LlmRouter is not re-entrant")
        built = self._given if self._given is not None else [
            build_backend(c) for c in self.config.backends]
        self._slots = {b.name: _Slot(b, self.config.breaker_cooldown) for b in built}
        await self.cache.__aenter__()
        for slot in self._slots.values():
            self._tasks.append(asyncio.create_task(
                probe_loop(slot.breaker, self._prober(slot), self.config.probe_interval,
                           self._on_probe(slot)), name=f"llm-probe-{slot.name}"))
        if not self._slots:
            self._probed.set()
        return self

    async def wait_probed(self) -> None:
        """Until every backend was probed once (health known; nothing waits for it to route)."""
        await self._probed.wait()

    def _on_probe(self, slot: _Slot) -> Callable[[float | None], None]:
        def probed(ms: float | None) -> None:
            slot.recorder.probed(ms)
            self._changed()
            if all(s.recorder.healthy is not None for s in self._slots.values()):
                self._probed.set()
        return probed

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.cache.__aexit__()
        for slot in self._slots.values():
            await slot.backend.aclose()
        self._slots = {}

    def _prober(self, slot: _Slot) -> Callable[[], Awaitable[object]]:
        async def probe() -> object:
            return await slot.backend.models(timeout=self.config.probe_timeout)
        return probe

    # -- signals ---------------------------------------------------------------------------
    def set_strategy(self, strategy: str) -> None:
        if strategy not in STRATEGIES:
            log.warning("unknown routing strategy %r ignored; known: %s", strategy, STRATEGIES)
            return
        if strategy != self.strategy:
            log.info("LLM routing strategy: %s", strategy)
        self.strategy = strategy  # type: ignore[assignment]  # checked above
        self._changed()

    def set_vpn(self, up: bool | None) -> None:
        if up != self.vpn_up:
            log.info("LLM routing: VPN %s", {True: "up", False: "down", None: "unknown"}[up])
        self.vpn_up = up
        self._changed()

    def _changed(self) -> None:
        """Tell ``on_activity`` (the hub: an event for the panel) that the stats changed."""
        if self.on_activity is None:
            return
        try:
            self.on_activity()
        except Exception:
            log.exception("LLM on_activity hook failed")

    def plan(self, prefer: Tier | None = None) -> Route:
        """The order a request tries now: O(backends), no I/O."""
        return route(list(self._slots.values()), self.strategy, self.vpn_up, prefer)

    # -- requests --------------------------------------------------------------------------
    async def generate(self, request: LlmRequest) -> LlmResult:
        result: LlmResult | None = None
        async for event in self.stream(request):
            if isinstance(event, LlmResult):
                result = event
        assert result is not None  # stream() always ends with a result or raises
        return result

    async def stream(self, request: LlmRequest) -> AsyncIterator[LlmEvent]:
        """Chunks, then the result. Raises :class:`NoBackend` (nothing answered; nothing was
        yielded) or :class:`StreamBroken` (failed after chunks were yielded)."""
        start = time.perf_counter()
        key = request.cache_key() if request.deterministic else None
        if key is not None and (hit := await self.cache.get(key)) is not None:
            ms = (time.perf_counter() - start) * 1000
            yield LlmChunk(index=0, text=hit.text)
            served = hit.model_copy(update={"source": hit.source.model_copy(update={
                "cached": True, "ttft_ms": ms, "total_ms": ms, "route": []})})
            self._served(served)
            yield served
            return
        plan = self.plan(request.prefer)
        attempts = [f"{name}: breaker open" for name in plan.skipped]
        if not plan.order:
            raise NoBackend("no LLM backend available: " + ("; ".join(attempts) or
                            "none configured for this route"), attempts, plan.note)
        tried: list[str] = []
        for name in plan.order:
            slot = self._slots[name]
            tried.append(name)
            outcome: list[LlmResult] = []
            try:
                async for event in self._attempt(slot, request, start, tried, plan.note, outcome):
                    yield event
            except BackendFailed as exc:
                attempts.append(f"{name}: {exc.reason}")
                self._changed()
                continue
            result = outcome[0]
            self.last_tier = result.source.tier
            if key is not None:
                await self.cache.put(key, result)
            self._served(result)
            yield result
            return
        raise NoBackend("no LLM backend answered: " + "; ".join(attempts), attempts, plan.note)

    def _served(self, result: LlmResult) -> None:
        """One inference record per answer, through ``on_result``."""
        self._changed()
        if self.on_result is None:
            return
        try:
            self.on_result(LlmInferenceMessage.of(result, uuid.uuid4().hex, datetime.now(UTC)))
        except Exception:
            log.exception("LLM on_result hook failed (the answer is served regardless)")

    async def _attempt(self, slot: _Slot, request: LlmRequest, start: float, tried: list[str],
                       note: str | None, outcome: list[LlmResult]) -> AsyncIterator[LlmChunk]:
        """One backend's answer as chunks; the result goes to ``outcome``. Raises
        BackendFailed only before the first chunk; after it, StreamBroken."""
        cfg = slot.backend.config
        slot.recorder.requests += 1
        began = time.perf_counter()
        events = slot.backend.complete(cfg.model_for(request.model), request)
        sent: list[str] = []
        ttft: float | None = None
        try:
            while True:
                try:
                    if not sent and cfg.first_token_timeout is not None:
                        left = cfg.first_token_timeout - (time.perf_counter() - began)
                        event = await asyncio.wait_for(anext(events), max(left, 0.001))
                    else:
                        event = await anext(events)
                except StopAsyncIteration:
                    raise BackendFailed(slot.name, "answer ended without done") from None
                except TimeoutError:
                    raise BackendFailed(slot.name, f"no first token within "
                                        f"{cfg.first_token_timeout} s") from None
                if isinstance(event, Delta):
                    if ttft is None:
                        ttft = (time.perf_counter() - start) * 1000
                    sent.append(event.text)
                    yield LlmChunk(index=len(sent) - 1, text=event.text)
                    continue
                total = ((event.finished_at or time.perf_counter()) - start) * 1000
                if ttft is None:
                    ttft = total
                slot.breaker.succeed()
                slot.recorder.done(total, ttft, event.input_tokens, event.output_tokens)
                outcome.append(LlmResult(text="".join(sent), done_reason=event.done_reason,
                                         tool_calls=list(event.tool_calls) or None,
                                         source=LlmSource(
                    backend=slot.name, tier=slot.tier, model=event.model, ttft_ms=ttft,
                    total_ms=total, input_tokens=event.input_tokens,
                    output_tokens=event.output_tokens, route=list(tried), note=note)))
                return
        except BackendFailed as exc:
            slot.recorder.failures += 1
            if sent:
                log.warning("LLM backend %s failed mid-stream: %s (no failover after tokens)",
                            slot.name, exc.reason)
                self._changed()
                raise StreamBroken(slot.name, exc.reason, "".join(sent)) from exc
            if exc.opens_breaker:
                slot.breaker.fail(exc.reason)
            raise
        finally:
            await events.aclose()

    # -- models, embeddings, stats -----------------------------------------------------------
    async def models(self) -> list[BackendModels]:
        async def one(slot: _Slot) -> BackendModels:
            base = {"backend": slot.name, "tier": slot.tier, "type": slot.backend.type,
                    "healthy": slot.recorder.healthy, "breaker": str(slot.breaker.state)}
            try:
                async with asyncio.timeout(self.config.probe_timeout * 2):
                    names = await slot.backend.models(timeout=self.config.probe_timeout)
                    loaded = await slot.backend.loaded()
            except (BackendFailed, TimeoutError) as exc:
                return BackendModels(**base, models=[], loaded=[], error=str(exc))
            return BackendModels(**base, models=names, loaded=loaded)
        return list(await asyncio.gather(*(one(s) for s in self._slots.values())))

    async def embed(self, inputs: list[str], model: str = "embed",
                    prefer: Tier | None = None) -> Embeddings:
        plan = self.plan(prefer)
        attempts = [f"{name}: breaker open" for name in plan.skipped]
        for name in plan.order:
            slot = self._slots[name]
            engine_model = slot.backend.config.model_for(model)
            try:
                vectors = await slot.backend.embed(engine_model, inputs)
            except BackendFailed as exc:
                attempts.append(f"{name}: {exc.reason}")
                if exc.opens_breaker:
                    slot.breaker.fail(exc.reason)
                continue
            return Embeddings(backend=name, tier=slot.tier, model=engine_model,
                              embeddings=vectors)
        raise NoBackend("no LLM backend embedded: " + "; ".join(attempts), attempts, plan.note)

    def stats(self) -> RoutingStats:
        plan = self.plan()
        cache_kind: Literal["redis", "memory", "redis (down)"] = self.cache.kind
        return RoutingStats(
            strategy=self.strategy, strategy_from=self.config.power_node, vpn_up=self.vpn_up,
            vpn_entity=self.config.vpn_entity, route=plan.order, note=plan.note,
            backends=[s.recorder.fill(BackendStats(
                name=s.name, tier=s.tier, type=s.backend.type, breaker=str(s.breaker.state),
                breaker_opened=s.breaker.opened, last_error=s.breaker.last_error))
                for s in self._slots.values()],
            cache_backend=cache_kind, cache_hits=self.cache.hits,
            cache_misses=self.cache.misses, cache_hit_rate=self.cache.hit_rate())
