"""What every LLM backend does: stream a chat, list models, embed, probe its health.

A backend yields :class:`Delta` pieces then one :class:`Done` with the engine's token counts
and the tool calls the model made (a request with ``tools``; at most ``MAX_TOOL_CALLS``, each
call's arguments as the JSON text the engine gave, cut at ``MAX_ARGUMENTS`` characters).
Every failure is a :class:`~hub.llm.errors.BackendFailed`; whether it came before or after the
first token is the router's business (it counts the deltas it passed on).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import orjson

from spark.core.messages.llm import (
    MAX_ARGUMENTS,
    MAX_TOOL_CALLS,
    LlmRequest,
    Tier,
    ToolCall,
)
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
    tool_calls: tuple[ToolCall, ...] = ()
    finished_at: float | None = None  # perf_counter at the engine's last chunk (when counting
    # the tokens took longer: an OpenAI stream's replay); None: now


def tool_call(index: int, ident: Any, name: Any, arguments: Any) -> ToolCall:
    """A call as an engine gave it, made safe to carry: an id (``call_<index>`` when the engine
    gave none), the name and the arguments as text, each cut to its bound (the agent checks
    them; a cut argument text is refused there as malformed JSON)."""
    if not isinstance(arguments, str):
        try:
            arguments = orjson.dumps(arguments).decode()
        except TypeError:
            arguments = str(arguments)
    ident = ident if isinstance(ident, str) and ident else f"call_{index}"
    return ToolCall(id=ident[:200], name=str(name or "")[:200],
                    arguments=arguments[:MAX_ARGUMENTS])


def bounded_calls(calls: list[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(calls[:MAX_TOOL_CALLS])


def tool_specs(request: LlmRequest) -> list[dict[str, Any]] | None:
    """The request's tools in the wire form OpenAI and Ollama share."""
    if not request.tools:
        return None
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}}
            for t in request.tools]


def parsed_arguments(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as an object (Ollama's wire form); unparseable ones: empty."""
    try:
        value = orjson.loads(call.arguments)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


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
