"""LLM router figures (issue 16): routing cost, router vs a direct call to the same engine
(total and time to first token), cache hits (in-process LRU and Redis), and the edge-down path
(first answer after a refused connect, later ones with the breaker open), and a cache hit at
the API: ``POST /api/llm/generate`` over HTTP to a real ``spark hub`` process (p50/p99).

``.venv/bin/python -m bench.llm_router [--samples N]``: two real llama.cpp servers on the tiny
GGUF of tests/llm_fixture.py, a fault proxy in front of the edge, a throwaway redis-server when
installed. Prints the figures and writes ``bench/results/llm-router.json``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import RESULTS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import yaml
from broker_fixture import free_port, start_test_broker
from e2e.harness import Lab, wait_until, write_config
from fault_proxy import FaultProxy, Mode
from llm_fixture import RunningEngine, start_engine, stop_engine, write_tiny_llama
from redis_fixture import start_redis

from spark.core.messages.llm import LlmRequest
from spark.hub.llm.config import CacheConfig, LlmConfig, OpenAiBackendConfig
from spark.hub.llm.router import LlmRouter
from spark.hub.llm.stats import percentile

HELLO = [{"role": "user", "content": "Hello, how are you today?"}]


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 0.5) or 0, 3),
            "p99_ms": round(percentile(values, 0.99) or 0, 3), "n": len(values)}


async def _timed(n: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _config(edge_url: str, cloud_url: str, cache_url: str | None) -> LlmConfig:
    def one(name: str, tier: str, url: str) -> OpenAiBackendConfig:
        return OpenAiBackendConfig(name=name, tier=tier, url=url,  # type: ignore[arg-type]
                                   models={"default": f"{name}-chat"}, connect_timeout=1.0)
    return LlmConfig(backends=[one("edge", "edge", edge_url), one("cloud", "cloud", cloud_url)],
                     cache=CacheConfig(url=cache_url), probe_interval=600)


def _req(i: int, **kw: Any) -> LlmRequest:
    return LlmRequest.model_validate({"messages": HELLO, "cache": False, "options": {
        "temperature": 0.7, "seed": i, "num_predict": 8}, **kw})


async def _first_probes(router: LlmRouter) -> None:
    async with asyncio.timeout(10):
        await router.wait_probed()


async def _direct(http: httpx.AsyncClient, model: str, i: int, stream: bool) -> float:
    """ms to the first content chunk (stream) or to the whole answer (the router's TTFT below
    is its first event, the same point)."""
    body = {"model": model, "messages": HELLO, "temperature": 0.7, "seed": i, "max_tokens": 8,
            "stream": stream}
    start = time.perf_counter()
    if not stream:
        (await http.post("/v1/chat/completions", json=body)).raise_for_status()
        return (time.perf_counter() - start) * 1000
    async with http.stream("POST", "/v1/chat/completions", json=body) as reply:
        async for line in reply.aiter_lines():
            if '"content"' in line:
                break
    return (time.perf_counter() - start) * 1000  # no content at all (EOS first): the end


async def run(samples: int, edge: RunningEngine, cloud: RunningEngine,
              redis_url: str | None) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with FaultProxy(edge.host, edge.port) as proxy, \
            httpx.AsyncClient(base_url=edge.url, timeout=30) as http:
        async with LlmRouter(_config(edge.url, cloud.url, None)) as router:
            await _first_probes(router)
            plans = []
            for _ in range(10_000):
                start = time.perf_counter()
                router.plan()
                plans.append((time.perf_counter() - start) * 1000)
            figures["routing_plan"] = _ms(plans)
            for _ in range(2):  # warm both paths, then interleave so load hits them alike
                await _direct(http, edge.chat_model, 0, False)
                await router.generate(_req(0))
            direct, routed, d_ttft, r_ttft = [], [], [], []
            for i in range(samples):
                direct.append(await _direct(http, edge.chat_model, i, False))
                routed += await _timed(1, lambda _n, i=i: router.generate(_req(i)))
                d_ttft.append(await _direct(http, edge.chat_model, i, True))
                r_ttft.append(await _router_ttft(router, _req(i, stream=True)))
            figures["direct"], figures["router"] = _ms(direct), _ms(routed)
            figures["direct_ttft"], figures["router_ttft"] = _ms(d_ttft), _ms(r_ttft)
            figures["overhead_p50_ms"] = round(figures["router"]["p50_ms"]
                                               - figures["direct"]["p50_ms"], 3)
            figures["overhead_p99_ms"] = round(figures["router"]["p99_ms"]
                                               - figures["direct"]["p99_ms"], 3)
            figures["ttft_overhead_p50_ms"] = round(figures["router_ttft"]["p50_ms"]
                                                    - figures["direct_ttft"]["p50_ms"], 3)
            hit = _req(0, cache=True)
            await router.generate(hit)
            figures["cache_hit_memory"] = _ms(await _timed(1000, lambda _i: router.generate(hit)))
        if redis_url is not None:
            async with LlmRouter(_config(edge.url, cloud.url, redis_url)) as router:
                await router.generate(hit)
                figures["cache_hit_redis"] = _ms(
                    await _timed(1000, lambda _i: router.generate(hit)))
        async with LlmRouter(_config(proxy.url, cloud.url, None)) as router:
            await _first_probes(router)
            await proxy.set_fault(Mode.REFUSE)
            first = await _timed(1, lambda i: router.generate(_req(i)))
            later = await _timed(samples, lambda i: router.generate(_req(i + 1)))
            figures["edge_refused_first_answer_ms"] = round(first[0], 3)
            figures["edge_refused_breaker_open"] = _ms(later)
            figures["connect_timeout_s"] = 1.0
    return figures


async def _router_ttft(router: LlmRouter, request: LlmRequest) -> float:
    start = time.perf_counter()
    ttft = None
    async for _event in router.stream(request):
        if ttft is None:
            ttft = (time.perf_counter() - start) * 1000
    assert ttft is not None
    return ttft


def api_cache_hit(samples: int, edge: RunningEngine, cloud: RunningEngine,
                  root: Path) -> dict[str, Any]:
    """A cache hit through the whole web stack: auth, body validation, the hub's view, the
    router's in-process cache, JSON out; one kept-alive HTTP connection."""
    broker = start_test_broker(root / "mosquitto")
    try:
        port = free_port()
        config = write_config(root / "lab", broker, port, [])
        data = yaml.safe_load(config.read_text())
        data["llm"] = {"backends": [
            {"name": e.name, "tier": e.name, "type": "openai", "url": e.url,
             "models": {"default": e.chat_model}} for e in (edge, cloud)],
            "cache": {"url": None}, "power_node": None}
        config.write_text(yaml.safe_dump(data))
        lab = Lab(root / "lab", config, port)
        lab.start("hub", "hub")
        try:
            with lab.api() as api:
                wait_until(lambda: api.http.get("/health", timeout=2).status_code == 200, 30,
                           "the hub's web server answers")
                api.login()
                body = {"messages": HELLO, "options": {"temperature": 0, "num_predict": 8}}
                first = api.post("/api/llm/generate", json=body)
                first.raise_for_status()
                times = []
                for _ in range(samples):
                    start = time.perf_counter()
                    reply = api.post("/api/llm/generate", json=body)
                    times.append((time.perf_counter() - start) * 1000)
                    assert reply.json()["source"]["cached"], reply.text
        finally:
            lab.stop("hub")
    finally:
        broker.process.stop_blocking()
    return _ms(times)


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_router")
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="spark-llm-bench-") as tmp:
        root = Path(tmp)
        model = write_tiny_llama(root / "tiny.gguf")
        edge = start_engine(model, "edge", root / "edge")
        cloud = start_engine(model, "cloud", root / "cloud")
        redis = start_redis(root / "redis") if shutil.which("redis-server") else None
        try:
            figures = asyncio.run(run(args.samples, edge, cloud,
                                      redis.url if redis else None))
            figures["cache_hit_api_http"] = api_cache_hit(max(args.samples, 200), edge, cloud,
                                                          root)
        finally:
            for engine in (edge, cloud):
                stop_engine(engine)
            if redis is not None:
                redis.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "llm-router.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
