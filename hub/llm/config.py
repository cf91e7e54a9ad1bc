"""The router's config section (``llm:``): backends ordered by tier, the cache, probing and the
circuit breaker, and where the routing signals come from (the power node's retained state, the
system node's WireGuard entity).

Backends are a discriminated union on ``type`` (``ollama``, ``openai``); each maps model roles
(``default``, ``small``, ...) to the name its engine knows. An API key comes from a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from spark.core.config.base import StrictModel
from spark.core.messages.llm import Tier


class _BackendBase(StrictModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$",
                      description="Unique backend name (stats, source metadata).")
    tier: Tier = Field(description="edge (this lab), cloud (over the VPN) or api (hosted).")
    url: str = Field(description="Base URL, e.g. http://127.0.0.1:11434.")
    models: dict[str, str] = Field(default_factory=dict, description="Model role -> the "
                                   "engine's model name; an unmapped role is passed as it is.")
    api_key_file: Path | None = Field(None, description="File holding the bearer token.")
    connect_timeout: float = Field(2.0, gt=0, le=60, description="Seconds to connect.")
    read_timeout: float = Field(300.0, gt=0, description="Seconds between bytes (a Pi "
                                "evaluating a long prompt is slow, not dead).")
    keepalive_connections: int = Field(8, ge=0, description="Idle connections kept open for "
                                       "reuse; 0: a new connection per request.")
    first_token_timeout: float | None = Field(None, gt=0, description="At most this long to "
                                              "the first token, then fail over (a backend that "
                                              "accepts and never answers); None: read_timeout. "
                                              "A non-streamed request to an openai backend gets "
                                              "its first token with the whole answer.")

    def model_for(self, role: str) -> str:
        return self.models.get(role, role)

    def api_key(self) -> str | None:
        if self.api_key_file is None:
            return None
        try:
            return self.api_key_file.read_text().strip() or None
        except OSError as exc:
            raise ValueError(f"llm.backends[{self.name}].api_key_file: cannot read "
                             f"{self.api_key_file}: {exc}") from exc


class OllamaBackendConfig(_BackendBase):
    type: Literal["ollama"] = "ollama"
    keep_alive: str | None = Field("10m", description="How long Ollama keeps the model loaded.")


class OpenAiBackendConfig(_BackendBase):
    type: Literal["openai"] = "openai"
    stream_usage: Literal["replay", "none"] = Field(
        "none", description="Token counts of a streamed answer when the server sends no "
        "usage (llama-cpp-python's server ignores stream_options.include_usage; llama.cpp's "
        "llama-server, Ollama's /v1, vLLM and hosted APIs send it): 'none' (default) leaves "
        "them unknown; 'replay' sends the same request (same seed) again unstreamed after the "
        "last chunk and takes the engine's counts from it: a second generation, so it doubles "
        "the engine's work for streamed answers (the time to first token is untouched). "
        "Servers that send usage are never replayed.")


BackendConfig = Annotated[OllamaBackendConfig | OpenAiBackendConfig, Field(discriminator="type")]


class CacheConfig(StrictModel):
    url: str | None = Field("redis://127.0.0.1:6379/0", description="Redis URL; None: the "
                            "in-process LRU only.")
    ttl: float = Field(3600.0, gt=0, description="Seconds a cached answer lives.")
    lru_size: int = Field(512, ge=1, description="Entries of the in-process fallback.")
    key_prefix: str = Field("spark:llm:", description="Prefix of every Redis key.")
    connect_timeout: float = Field(0.5, gt=0, description="Seconds to reach Redis.")
    retry_after: float = Field(30.0, gt=0, description="After a Redis failure, skip it this "
                               "long before trying again.")


class LlmConfig(StrictModel):
    backends: list[BackendConfig] = Field(default_factory=list)
    probe_interval: float = Field(15.0, gt=0, description="Seconds between health probes.")
    probe_timeout: float = Field(2.0, gt=0, description="A probe slower than this fails.")
    breaker_cooldown: float = Field(30.0, gt=0, description="Seconds a failed backend is "
                                    "skipped before a half-open probe may close it.")
    cache: CacheConfig = Field(default_factory=CacheConfig)
    power_node: str | None = Field("power", description="Power node whose retained strategy "
                                   "orders the tiers (None: edge-first).")
    vpn_entity: str | None = Field(None, description="'<node>/<entity>' of the WireGuard "
                                   "binary_sensor; None: the VPN is not watched (assumed up).")

    @model_validator(mode="after")
    def _unique_names(self) -> LlmConfig:
        names = [b.name for b in self.backends]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"llm.backends: duplicate names {dupes}; give each its own name")
        return self
