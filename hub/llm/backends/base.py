"""What every LLM backend does: stream a chat, list models, embed, probe its health.

A backend yields :class:`Delta` pieces then one :class:`Done` with the engine's token counts.
Every failure is a :class:`~hub.llm.errors.BackendFailed`; whether it came before or after the
first token is the router's business (it counts the deltas it passed on).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import ClassVar

import httpx

from spark.core.messages.llm import LlmRequest, Tier
from spark.core.registry import TypeRegistry
from spark.hub.llm.config import OllamaBackendConfig, OpenAiBackendConfig


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Done:
    model: str
    input_tokens: int | None
    output_tokens: int | None
    done_reason: str | None


BackendEvent = Delta | Done


class LlmBackend(ABC):
    type: ClassVar[str]

    def __init__(self, config: OllamaBackendConfig | OpenAiBackendConfig) -> None:
        self.config = config
        self.name: str = config.name
        self.tier: Tier = config.tier

    def timeout(self) -> httpx.Timeout:
        c = self.config
        return httpx.Timeout(c.read_timeout, connect=c.connect_timeout)

    def limits(self) -> httpx.Limits:
        return httpx.Limits(max_keepalive_connections=self.config.keepalive_connections)

    def headers(self) -> dict[str, str]:
        key = self.config.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    @abstractmethod
    def complete(self, model: str, request: LlmRequest) -> AsyncGenerator[BackendEvent, None]:
        """The answer to ``request`` from ``model``: deltas, then one :class:`Done`. Streamed
        from the engine when ``request.stream`` (else one delta: engines count tokens then)."""

    @abstractmethod
    async def models(self, timeout: float | None = None) -> list[str]:
        """The engine's model names (Ollama ``/api/tags``, OpenAI ``/v1/models``); this is the
        health probe too."""

    @abstractmethod
    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """One vector per input."""

    async def loaded(self) -> list[str]:
        """Models loaded in memory now (Ollama ``/api/ps``); others: unknown, empty."""
        return []

    @abstractmethod
    async def aclose(self) -> None:
        """Close the connection pool."""


BACKENDS: TypeRegistry[type[LlmBackend]] = TypeRegistry("LLM backend", {
    "ollama": "spark.hub.llm.backends.ollama:OllamaBackend",
    "openai": "spark.hub.llm.backends.openai:OpenAiBackend",
})


def build_backend(config: OllamaBackendConfig | OpenAiBackendConfig) -> LlmBackend:
    return BACKENDS.get(config.type)(config)
