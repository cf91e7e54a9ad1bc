"""Ollama's wire format for tests/ollama_front.py: the front's config (``FrontConfig``: Ollama
model names -> the engine's aliases), the request bodies (the fields of Ollama's
``docs/api.md`` and the ``ollama`` client's ``_types.py``, strict: an unknown field is a 400), its
error body, and the mapping to and from the llama.cpp engine's OpenAI-compatible API (options,
messages, tool calls, the engine's server-sent events and error bodies)."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

DEFAULT_KEEP_ALIVE = 300.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FrontModel(Strict):
    """One Ollama model name and the engine's model aliases that serve it."""

    chat: str = Field(description="engine alias for chat and generate")
    embed: str | None = Field(default=None, description="engine alias with embedding: true")
    tools: str | None = Field(default=None, description="engine alias with a tool-call format")
    size: int = Field(default=0, description="reported in /api/tags (bytes of the GGUF)")
    family: str = "llama"
    parameter_size: str = "0.1M"
    quantization_level: str = "F32"


class FrontConfig(Strict):
    engine_url: str = Field(description="the llama.cpp server, without /v1")
    models: dict[str, FrontModel] = Field(description="Ollama name (name:tag) -> engine aliases")
    exact_stream_counts: bool = Field(default=True, description="replay streams for usage")
    connect_timeout: float = 2.0
    read_timeout: float = 120.0


# --- requests (the fields of Ollama's docs/api.md and the ollama client's _types.py) ----------


class ToolFunction(Strict):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None
    description: str | None = None


class ToolCall(Strict):
    function: ToolFunction
    id: str | None = None
    type: str | None = None


class Message(Strict):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None


class _Generating(Strict):
    model: str = ""
    stream: bool = True
    options: dict[str, Any] | None = None
    format: str | dict[str, Any] | None = None
    keep_alive: float | str | None = None
    think: bool | str | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None


class ChatRequest(_Generating):
    messages: list[Message] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None


class GenerateRequest(_Generating):
    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool = False
    images: list[str] | None = None


class EmbedRequest(Strict):
    model: str = ""
    input: str | list[str] = Field(default_factory=list)
    truncate: bool | None = None
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None
    dimensions: int | None = None


class EmbeddingsRequest(Strict):
    model: str = ""
    prompt: str = ""
    options: dict[str, Any] | None = None
    keep_alive: float | str | None = None


class ShowRequest(Strict):
    model: str = ""
    name: str | None = None
    verbose: bool | None = None


class FrontError(Exception):
    """An Ollama error body ``{"error": message}`` with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status)


# --- mapping helpers ---------------------------------------------------------------------------

# Ollama option -> llama.cpp (llama-cpp-python) request field; the rest (num_ctx, num_thread,
# num_gpu, ...) are load-time settings of the engine and are accepted and ignored, as Ollama
# ignores those a runner cannot change.
OPTION_MAP = {
    "temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "min_p": "min_p",
    "typical_p": "typical_p", "seed": "seed", "stop": "stop",
    "repeat_penalty": "repeat_penalty", "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty", "mirostat": "mirostat_mode",
    "mirostat_tau": "mirostat_tau", "mirostat_eta": "mirostat_eta",
}


def sampling(options: dict[str, Any] | None, fmt: str | dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key == "num_predict":
            if value is not None and int(value) >= 0:  # -1 infinite, -2 fill the context
                body["max_tokens"] = int(value)
        elif key in OPTION_MAP and value is not None:
            body[OPTION_MAP[key]] = value
    if fmt == "json":
        body["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):
        body["response_format"] = {"type": "json_object", "schema": fmt}
    return body


def keep_alive_seconds(value: float | str | None) -> float:
    """Ollama's keep_alive: seconds as a number, or a Go duration ("5m", "1h30m", "0")."""
    if value is None:
        return DEFAULT_KEEP_ALIVE
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    with contextlib.suppress(ValueError):
        return float(text)
    parts = re.findall(r"(-?\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise FrontError(400, f'time: invalid duration "{value}"')
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.images:
            raise FrontError(400, "this model does not support image input")
        item: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.tool_calls:
            item["tool_calls"] = [
                {"id": c.id or f"call_{i}", "type": "function",
                 "function": {"name": c.function.name,
                              "arguments": json.dumps(c.function.arguments)}}
                for i, c in enumerate(m.tool_calls)
            ]
        if m.role == "tool":
            item["tool_call_id"] = m.tool_call_id or m.tool_name or "call_0"
        out.append(item)
    return out


def from_openai_tool_calls(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    result = []
    for i, call in enumerate(calls or []):
        fn = call.get("function") or {}
        try:
            arguments = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError as exc:
            raise FrontError(500, f"error parsing tool call: {exc}") from exc
        result.append({"function": {"index": i, "name": fn.get("name", ""),
                                     "arguments": arguments}})
    return result


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def normalize(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


async def parse(request: Request, model: type[Strict]) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise FrontError(400, "missing request body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise FrontError(400, f"invalid request: {where}: {first['msg']}") from None


class EngineStreamError(Exception):
    """The engine's event stream broke or ended without its ``[DONE]``."""


async def engine_events(upstream: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The ``choices[0]`` of each server-sent event of an OpenAI-style stream, until ``[DONE]``."""
    try:
        async for line in upstream.aiter_lines():
            if line == "data: [DONE]":
                return
            if line.startswith("data: "):
                yield json.loads(line[6:])["choices"][0]
    except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
        raise EngineStreamError(f"engine stream failed: {exc!r}") from exc
    raise EngineStreamError("engine stream ended without [DONE]")


def engine_status(status: int) -> int:
    """The engine's 4xx (context overflow, bad field) stay 400; anything else is Ollama's 500."""
    return 400 if 400 <= status < 500 else 500


def engine_message(text: str) -> str:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        body = json.loads(text)
        detail = body.get("error") or body.get("detail") or body
        if isinstance(detail, dict):
            detail = detail.get("message") or json.dumps(detail)
        return str(detail)
    return text.strip() or "engine error"


def ndjson(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
