"""LLM requests and answers as every caller sees them (the REST API, the hub's ``ask`` RPC, the
voice node): :class:`LlmRequest` in; a stream of :class:`LlmChunk` then one :class:`LlmResult`
out, whose :class:`LlmSource` says who answered (backend, tier, model, cached), how fast (time to
first token, total) and at what cost (input and output tokens, as the engine counted them).

Wire form of a request (JSON)::

    {"model": "default", "messages": [{"role": "user", "content": "hi"}],
     "options": {"temperature": 0, "num_predict": 32}, "stream": true, "prefer": "edge"}

A request is *deterministic* (cacheable) when ``temperature`` is 0 or ``cache`` is true;
``cache: false`` turns the cache off for that request. :meth:`LlmRequest.cache_key` hashes only
what does not depend on the backend (model role, messages or prompt, options, tools).

Tools (function calling, as OpenAI's ``tools`` / ``tool_calls`` and Ollama's ``/api/chat``
``tools`` / ``message.tool_calls``): a request may carry ``tools`` (:class:`ToolSpec`: a name,
a description, a JSON schema of the arguments) and ``tool_choice``; the answer may then carry
``tool_calls`` (:class:`ToolCall`: an id, the tool's name, the arguments as the JSON text the
model wrote, unchecked) instead of, or beside, text. The caller answers each call with a
``tool`` message (``tool_call_id``, ``name``) after the ``assistant`` message that holds the
calls::

    {"role": "assistant", "content": "", "tool_calls": [{"id": "call_0", "name": "turn_on",
     "arguments": "{\"entity_id\": \"switch.lamp\"}"}]}
    {"role": "tool", "content": "{\"ok\": true}", "tool_call_id": "call_0", "name": "turn_on"}
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spark.core.errors import PayloadError
from spark.core.messages.records import InferenceRecord

Tier = Literal["edge", "cloud", "api"]
TIERS: tuple[str, ...] = get_args(Tier)
Strategy = Literal["edge-first", "cloud-first", "cloud-only", "edge-only"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
Role = Literal["system", "user", "assistant", "tool"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


TOOL_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # OpenAI's rule for function names
MAX_TOOLS = 64
MAX_TOOL_CALLS = 32
MAX_ARGUMENTS = 64_000  # characters of one call's arguments as received (the agent bounds less)


class ToolSpec(_Strict):
    """A function the model may call: its name, what it does, its arguments' JSON schema."""

    name: str = Field(pattern=TOOL_NAME)
    description: str = Field("", max_length=2000)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object",
                                                                "properties": {}},
                                       description="JSON schema of the arguments (an object).")


class ToolCall(_Strict):
    """A call the model asked for. ``arguments`` is the JSON text as the engine gave it (an
    Ollama object is serialised): not validated here, the caller checks it."""

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(max_length=200)
    arguments: str = Field("{}", max_length=MAX_ARGUMENTS)


class ChatMessage(_Strict):
    role: Role
    content: str = Field(max_length=200_000)
    tool_calls: list[ToolCall] | None = Field(None, max_length=MAX_TOOL_CALLS,
                                              description="assistant: the calls it made.")
    tool_call_id: str | None = Field(None, max_length=200, description="tool: the call "
                                     "answered.")
    name: str | None = Field(None, max_length=200, description="tool: the tool's name.")


class LlmOptions(_Strict):
    temperature: float | None = Field(None, ge=0, le=5, description="0: deterministic.")
    seed: int | None = Field(None, description="Sampling seed.")
    num_predict: int | None = Field(None, ge=1, le=32_768, description="At most this many "
                                    "output tokens (OpenAI's max_tokens).")
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = Field(None, max_length=8)


class LlmRequest(_Strict):
    model: str = Field("default", min_length=1, max_length=100,
                       description="Model role (mapped per backend in the config) or a name.")
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=500)
    prompt: str | None = Field(None, max_length=200_000, description="Instead of messages.")
    system: str | None = Field(None, max_length=50_000, description="With prompt only.")
    options: LlmOptions = Field(default_factory=LlmOptions)
    stream: bool = Field(False, description="Stream chunks before the result.")
    prefer: Tier | None = Field(None, description="Try this tier first, if the route has it.")
    cache: bool | None = Field(None, description="True: cache even when sampling; False: never.")
    tools: list[ToolSpec] | None = Field(None, min_length=1, max_length=MAX_TOOLS,
                                         description="Functions the model may call.")
    tool_choice: str | None = Field(None, max_length=64, description="'auto' (the default "
                                    "with tools), 'none', 'required', or a tool's name to force "
                                    "that tool (OpenAI backends; Ollama has no such option).")

    @model_validator(mode="after")
    def _one_input(self) -> LlmRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give either messages or prompt (exactly one)")
        if self.system is not None and self.prompt is None:
            raise ValueError("system goes with prompt; with messages use a system message")
        if self.tools is not None and self.messages is None:
            raise ValueError("tools go with messages, not with prompt")
        if self.tool_choice is not None:
            names = {t.name for t in self.tools or []}
            if self.tool_choice not in ("auto", "none", "required", *names):
                raise ValueError(f"tool_choice {self.tool_choice!r}: 'auto', 'none', "
                                 "'required' or the name of one of the tools")
        return self

    @property
    def deterministic(self) -> bool:
        """Cacheable: ``cache`` true, or temperature 0 unless ``cache`` is false."""
        if self.cache is not None:
            return self.cache
        return self.options.temperature == 0

    def chat(self) -> list[ChatMessage]:
        """The request as chat messages (a prompt becomes system + user)."""
        if self.messages is not None:
            return list(self.messages)
        head = [ChatMessage(role="system", content=self.system)] if self.system else []
        return [*head, ChatMessage(role="user", content=self.prompt or "")]

    def cache_key(self) -> str:
        """sha256 of the backend-independent part: model role, the input, the options."""
        body: dict[str, Any] = {
            "model": self.model, "prompt": self.prompt is not None,
            "messages": [m.model_dump(exclude_none=True) for m in self.chat()],
            "options": self.options.model_dump(exclude_none=True)}
        if self.tools is not None:
            body["tools"] = [t.model_dump() for t in self.tools]
            body["tool_choice"] = self.tool_choice
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @classmethod
    def from_payload(cls, payload: bytes | str) -> LlmRequest:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"invalid LLM request: {exc}") from exc


class LlmSource(_Strict):
    backend: str = Field(description="Configured backend name (of the original answer when "
                         "cached).")
    tier: Tier
    model: str = Field(description="The engine's model name (what the backend ran).")
    cached: bool = Field(False, description="Answered from the cache; times are the hit's, "
                         "tokens the original answer's.")
    ttft_ms: float | None = Field(None, ge=0, description="Time to first token.")
    total_ms: float = Field(ge=0)
    input_tokens: int | None = Field(None, ge=0, description="Engine's prompt token count.")
    output_tokens: int | None = Field(None, ge=0, description="Engine's output token count.")
    route: list[str] = Field(default_factory=list, description="Backends tried, in order.")
    note: str | None = Field(None, description="Why the route is narrowed (e.g. VPN down).")


class LlmChunk(_Strict):
    kind: Literal["chunk"] = "chunk"
    index: int = Field(ge=0)
    text: str


class LlmResult(_Strict):
    kind: Literal["result"] = "result"
    text: str
    done_reason: str | None = None
    source: LlmSource
    tool_calls: list[ToolCall] | None = Field(None, max_length=MAX_TOOL_CALLS,
                                              description="The tools the model called (a "
                                              "request with tools only).")

    @classmethod
    def from_payload(cls, payload: bytes | str) -> LlmResult:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"invalid LLM result: {exc}") from exc


LlmEvent = LlmChunk | LlmResult


class LlmInferenceMessage(_Strict):
    """One answer the router served (edge, cloud, api or cached), published by the hub on
    ``<base>/<hub>/inference`` (QoS 1, not retained) and mapped by the bridge to an
    ``ai_inference_results`` row (:meth:`to_record`). ``kind: "llm"`` tells it from a vision
    node's :class:`~core.messages.vision.InferenceMessage` on the same kind of topic.

    Wire form::

        {"kind": "llm", "id": "3f2a...", "time": "2026-12-07T01:00:00.123456Z",
         "backend": "edge", "tier": "edge", "model": "tiny.gguf", "cached": false,
         "ttft_ms": 41.2, "total_ms": 212.9, "input_tokens": 18, "output_tokens": 8}

    ``id`` is unique per answer (the bridge's idempotency key is ``inference:<hub>:<id>``).
    A cached answer is its own record with ``cached: true`` and 0 tokens: the tokens are what
    an engine spent for this request (none), so summing them gives the engines' real work; the
    original answer's row already counted its tokens. ``backend`` / ``model`` / ``tier`` are
    the original answer's.
    """

    kind: Literal["llm"] = "llm"
    id: str = Field(min_length=1, max_length=200, description="Unique per answer.")
    time: datetime = Field(description="When the answer was complete (UTC).")
    backend: str = Field(min_length=1, max_length=128)
    tier: Tier
    model: str = Field(min_length=1, max_length=256)
    cached: bool = False
    ttft_ms: float | None = Field(None, ge=0)
    total_ms: float = Field(ge=0)
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)

    @classmethod
    def of(cls, result: LlmResult, ident: str, when: datetime) -> LlmInferenceMessage:
        """The record of ``result`` (a cached one: 0 tokens, see the class)."""
        src = result.source
        return cls(id=ident, time=when, backend=src.backend, tier=src.tier, model=src.model,
                   cached=src.cached, ttft_ms=src.ttft_ms, total_ms=src.total_ms,
                   input_tokens=0 if src.cached else src.input_tokens,
                   output_tokens=0 if src.cached else src.output_tokens)

    @classmethod
    def from_payload(cls, payload: bytes | str) -> LlmInferenceMessage:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"invalid LLM inference message: {exc}") from exc

    def to_record(self, node_id: str) -> InferenceRecord:
        """The ``ai_inference_results`` row: ``latency_ms`` is the total time."""
        return InferenceRecord(key=f"inference:{node_id}:{self.id}", device_id=node_id,
                               time=self.time, model_name=self.model, latency_ms=self.total_ms,
                               tier=self.tier, cached=self.cached,
                               input_tokens=self.input_tokens,
                               output_tokens=self.output_tokens, backend=self.backend,
                               ttft_ms=self.ttft_ms)
