"""Ollama's native API through the official ``ollama`` client: ``/api/chat`` (messages) and
``/api/generate`` (prompt) with NDJSON streaming and ``keep_alive``, ``/api/embed``,
``/api/tags`` (models, the health probe), ``/api/ps`` (loaded models). Token counts are
Ollama's ``prompt_eval_count`` / ``eval_count``.

Tools: ``/api/chat``'s ``tools`` (the same function specs as OpenAI's); calls arrive as
``message.tool_calls`` (``function.name``, ``function.arguments`` an object), in any chunk of
the stream, and are gathered until ``done``. History: an assistant message carries its
``tool_calls`` (arguments as objects), a tool message its ``tool_name``. Ollama has no
``tool_choice``: the request's is not sent."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx
import ollama

from spark.core.messages.llm import ChatMessage, LlmOptions, LlmRequest, ToolCall
from spark.hub.llm.backends.base import (
    BackendEvent,
    Delta,
    Done,
    LlmBackend,
    bounded_calls,
    parsed_arguments,
    tool_call,
    tool_specs,
)
from spark.hub.llm.config import OllamaBackendConfig, OpenAiBackendConfig
from spark.hub.llm.errors import BackendFailed


class OllamaBackend(LlmBackend):
    type = "ollama"

    def __init__(self, config: OllamaBackendConfig | OpenAiBackendConfig) -> None:
        super().__init__(config)
        self.keep_alive = config.keep_alive if isinstance(config, OllamaBackendConfig) else None
        self._client = ollama.AsyncClient(host=config.url, timeout=self.timeout(),
                                          headers=self.headers(), limits=self.limits())

    async def complete(self, model: str,
                       request: LlmRequest) -> AsyncGenerator[BackendEvent, None]:
        options = _options(request.options)
        try:
            if request.prompt is not None:
                parts: Any = await self._client.generate(
                    model=model, prompt=request.prompt, system=request.system or "",
                    options=options, stream=True, keep_alive=self.keep_alive)
            else:
                parts = await self._client.chat(
                    model=model, messages=[_message(m) for m in request.chat()],
                    tools=tool_specs(request), options=options, stream=True,
                    keep_alive=self.keep_alive)
            calls: list[ToolCall] = []
            async for part in parts:
                text = part.response if request.prompt is not None else part.message.content
                if text:
                    yield Delta(text)
                if request.prompt is None:
                    for call in (part.message.tool_calls or [])[:32]:
                        calls.append(tool_call(len(calls), None, call.function.name,
                                               dict(call.function.arguments or {})))
                if part.done:
                    yield Done(part.model or model, part.prompt_eval_count, part.eval_count,
                               part.done_reason, bounded_calls(calls))
                    return
            raise BackendFailed(self.name, "stream ended before done")
        except Exception as exc:
            raise _translate(self.name, exc) from exc

    async def models(self, timeout: float | None = None) -> list[str]:
        try:
            if timeout is None:
                listed = await self._client.list()
            else:  # the probe: a short timeout of its own
                async with httpx.AsyncClient(base_url=self.config.url, headers=self.headers(),
                                             timeout=timeout) as http:
                    reply = await http.get("/api/tags")
                    reply.raise_for_status()
                    return [m["model"] for m in reply.json().get("models", [])]
            return [m.model for m in listed.models if m.model]
        except Exception as exc:
            raise _translate(self.name, exc) from exc

    async def loaded(self) -> list[str]:
        try:
            return [m.model for m in (await self._client.ps()).models if m.model]
        except Exception as exc:
            raise _translate(self.name, exc) from exc

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        try:
            reply = await self._client.embed(model=model, input=inputs,
                                             keep_alive=self.keep_alive)
            return [list(v) for v in reply.embeddings]
        except Exception as exc:
            raise _translate(self.name, exc) from exc

    async def aclose(self) -> None:
        await self._client.close()


def _message(m: ChatMessage) -> dict[str, Any]:
    """A history message in Ollama's form."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": parsed_arguments(c)}}
                             for c in m.tool_calls]
    if m.role == "tool" and m.name:
        out["tool_name"] = m.name
    return out


def _options(o: LlmOptions) -> Mapping[str, Any]:
    return o.model_dump(exclude_none=True)


def _translate(name: str, exc: Exception) -> BackendFailed:
    if isinstance(exc, BackendFailed):
        return exc
    if isinstance(exc, ollama.ResponseError):
        status = exc.status_code
        opens = status < 0 or status >= 500 or status in (408, 429)
        return BackendFailed(name, f"HTTP {status}: {exc.error}", opens_breaker=opens,
                             status=status if status > 0 else None)
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return BackendFailed(name, f"HTTP {status}", opens_breaker=status >= 500, status=status)
    if isinstance(exc, httpx.TimeoutException):
        return BackendFailed(name, f"timed out: {type(exc).__name__}")
    if isinstance(exc, httpx.HTTPError | ConnectionError | OSError):
        return BackendFailed(name, f"cannot connect: {type(exc).__name__}: {exc}")
    return BackendFailed(name, f"{type(exc).__name__}: {exc}")
