"""Routing statistics (``GET /api/routing/stats``): per backend requests, failures, breaker
state, p50/p95 latency and time to first token, tokens; the cache's hit rate."""

from __future__ import annotations

from collections import deque

from pydantic import BaseModel, ConfigDict, Field

WINDOW = 512  # latencies kept per backend for the percentiles


def percentile(values: deque[float] | list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class BackendStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    tier: str
    type: str
    healthy: bool | None = Field(None, description="Last probe: True up, False down, None: "
                                 "not probed yet.")
    probe_ms: float | None = None
    breaker: str = "closed"
    breaker_opened: int = 0
    last_error: str | None = None
    requests: int = 0
    failures: int = 0
    served: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None


class RoutingStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: str
    strategy_from: str | None = Field(None, description="The power node whose retained "
                                      "strategy is read (llm.power_node); None: edge-first.")
    vpn_up: bool | None
    vpn_entity: str | None = Field(None, description="The WireGuard entity read "
                                   "(llm.vpn_entity); None: not watched, assumed up.")
    route: list[str] = Field(description="The order a request would try now.")
    note: str | None = None
    backends: list[BackendStats]
    cache_backend: str
    cache_hits: int
    cache_misses: int
    cache_hit_rate: float | None


class Recorder:
    """Counters and latency windows of one backend."""

    def __init__(self) -> None:
        self.requests = self.failures = self.served = 0
        self.input_tokens = self.output_tokens = 0
        self.latency: deque[float] = deque(maxlen=WINDOW)
        self.ttft: deque[float] = deque(maxlen=WINDOW)
        self.healthy: bool | None = None
        self.probe_ms: float | None = None

    def probed(self, ms: float | None) -> None:
        self.healthy, self.probe_ms = ms is not None, ms

    def done(self, total_ms: float, ttft_ms: float | None, tokens_in: int | None,
             tokens_out: int | None) -> None:
        self.served += 1
        self.latency.append(total_ms)
        if ttft_ms is not None:
            self.ttft.append(ttft_ms)
        self.input_tokens += tokens_in or 0
        self.output_tokens += tokens_out or 0

    def fill(self, stats: BackendStats) -> BackendStats:
        return stats.model_copy(update={
            "healthy": self.healthy, "probe_ms": self.probe_ms, "requests": self.requests,
            "failures": self.failures, "served": self.served,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "latency_p50_ms": percentile(self.latency, 0.5),
            "latency_p95_ms": percentile(self.latency, 0.95),
            "ttft_p50_ms": percentile(self.ttft, 0.5), "ttft_p95_ms": percentile(self.ttft, 0.95)})
