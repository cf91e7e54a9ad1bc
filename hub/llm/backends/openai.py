"""Any OpenAI-compatible server (llama.cpp, vLLM, LM Studio, hosted APIs, Ollama's ``/v1``)
over httpx: ``/v1/chat/completions`` (SSE streaming; ``stream_options.include_usage`` asks for
the token counts where the server gives them), ``/v1/models``, ``/v1/embeddings``.

Tools: the request's ``tools`` go as OpenAI's ``tools`` with ``tool_choice`` (``"auto"`` when
the request names none: OpenAI's default with tools, and llama-cpp-python's function-calling
formats call no tool without it); a tool's name forces it. The answer's ``message.tool_calls``
(or, streamed, the ``delta.tool_calls`` pieces joined by ``index``) become the result's calls.
History messages carry ``tool_calls`` (assistant) and ``tool_call_id`` (tool).

Token counts of a stream: the server's ``usage`` chunk when it sends one. llama-cpp-python's
server sends none (it ignores ``stream_options``), and counting chunks or re-tokenising the text
is not the engine's count (chunks merge tokens held back for stop sequences or split UTF-8). So
with ``stream_usage: replay`` (opt-in: it doubles the engine's work) a streamed request
carries a ``seed`` (the caller's, or a random one) and, when the stream ended without usage,
the same request is sent unstreamed: same seed, same output (checked: a different text leaves
the counts unknown and is logged), and its ``usage`` are the counts. The replay runs after the
last chunk: the time to first token is untouched, the total time is taken at the last chunk."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import orjson

from spark.core.messages.llm import ChatMessage, LlmOptions, LlmRequest, ToolCall
from spark.hub.llm.backends.base import (
    BackendEvent,
    Delta,
    Done,
    LlmBackend,
    bounded_calls,
    tool_call,
    tool_specs,
)
from spark.hub.llm.config import OllamaBackendConfig, OpenAiBackendConfig
from spark.hub.llm.errors import BackendFailed

log = logging.getLogger(__name__)


class OpenAiBackend(LlmBackend):
    type = "openai"

    def __init__(self, config: OllamaBackendConfig | OpenAiBackendConfig) -> None:
        super().__init__(config)
        self._http = httpx.AsyncClient(base_url=config.url.rstrip("/"), timeout=self.timeout(),
                                       headers=self.headers(), limits=self.limits())

    def _body(self, model: str, messages: list[ChatMessage], options: LlmOptions,
              stream: bool, request: LlmRequest | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "stream": stream,
                                "messages": [_message(m) for m in messages]}
        tools = tool_specs(request) if request is not None else None
        if tools:
            body["tools"] = tools
            choice = request.tool_choice if request is not None else None
            body["tool_choice"] = (
                {"type": "function", "function": {"name": choice}}
                if choice not in (None, "auto", "none", "required") else choice or "auto")
        o = options
        for key, value in (("temperature", o.temperature), ("seed", o.seed),
                           ("max_tokens", o.num_predict), ("top_p", o.top_p), ("stop", o.stop)):
            if value is not None:
                body[key] = value
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self, model: str,
                       request: LlmRequest) -> AsyncGenerator[BackendEvent, None]:
        stream = request.stream
        body = self._body(model, request.chat(), request.options, stream, request)
        replay = stream and isinstance(self.config, OpenAiBackendConfig) \
            and self.config.stream_usage == "replay"
        if replay and "seed" not in body:
            body["seed"] = random.randrange(2**31)  # so that a replay gives the same answer
        try:
            if not stream:
                reply = await self._http.post("/v1/chat/completions", json=body)
                self._check(reply)
                data = reply.json()
                choice = data["choices"][0]
                usage = data.get("usage") or {}
                message = choice["message"]
                yield Delta(message.get("content") or "")
                calls = [tool_call(i, c.get("id"), (c.get("function") or {}).get("name"),
                                   (c.get("function") or {}).get("arguments") or "{}")
                         for i, c in enumerate((message.get("tool_calls") or [])[:32])
                         if isinstance(c, dict)]
                yield Done(data.get("model", model), usage.get("prompt_tokens"),
                           usage.get("completion_tokens"), choice.get("finish_reason"),
                           bounded_calls(calls))
                return
            async with self._http.stream("POST", "/v1/chat/completions", json=body) as reply:
                if reply.status_code >= 400:
                    await reply.aread()
                    self._check(reply)
                streamed: list[str] = []
                async for event in self._events(reply, model):
                    if isinstance(event, Delta):
                        streamed.append(event.text)
                    elif replay and event.input_tokens is None and event.output_tokens is None:
                        event = await self._counted(body, event, "".join(streamed))
                    yield event
        except httpx.HTTPError as exc:
            raise _failed(self.name, exc) from exc
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise BackendFailed(self.name, f"malformed answer: {exc!r}") from exc

    async def _events(self, reply: httpx.Response, model: str) -> AsyncIterator[BackendEvent]:
        usage: dict[str, Any] = {}
        reason: str | None = None
        calls: dict[int, dict[str, Any]] = {}  # streamed tool calls by index
        async for line in reply.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = orjson.loads(data)
            if "error" in chunk:
                raise BackendFailed(self.name, f"error in stream: {chunk['error']}")
            model = chunk.get("model") or model
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    yield Delta(text)
                for piece in delta.get("tool_calls") or []:
                    _join(calls, piece)
                reason = choice.get("finish_reason") or reason
        else:
            raise BackendFailed(self.name, "stream ended without [DONE]")
        done = [tool_call(i, c["id"], c["name"], "".join(c["arguments"]) or "{}")
                for i, c in enumerate(calls[k] for k in sorted(calls))]
        yield Done(model, usage.get("prompt_tokens"), usage.get("completion_tokens"), reason,
                   bounded_calls(done))

    async def _counted(self, body: dict[str, Any], done: Done, streamed: str) -> Done:
        """``done`` with the engine's counts from the same request unstreamed (see the module
        docstring); unchanged when the replay fails or answers another text."""
        ended = time.perf_counter()
        again = {k: v for k, v in body.items() if k != "stream_options"} | {"stream": False}
        try:
            reply = await self._http.post("/v1/chat/completions", json=again)
            self._check(reply)
            data = reply.json()
            text = data["choices"][0]["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (httpx.HTTPError, BackendFailed, KeyError, IndexError, ValueError,
                TypeError) as exc:
            log.warning("%s: token counts of a stream unknown: its replay failed (%s)",
                        self.name, exc)
            return Done(done.model, None, None, done.done_reason, done.tool_calls, ended)
        if text != streamed:
            log.warning("%s: token counts of a stream unknown: its replay answered another "
                        "text (%r != %r)", self.name, text[:40], streamed[:40])
            return Done(done.model, None, None, done.done_reason, done.tool_calls, ended)
        return Done(done.model, usage.get("prompt_tokens"), usage.get("completion_tokens"),
                    done.done_reason, done.tool_calls, ended)

    def _check(self, reply: httpx.Response) -> None:
        if reply.status_code >= 400:
            raise BackendFailed(self.name, f"HTTP {reply.status_code}: {reply.text[:200]}",
                                opens_breaker=reply.status_code >= 500 or
                                reply.status_code in (408, 429),
                                status=reply.status_code)

    async def models(self, timeout: float | None = None) -> list[str]:
        try:
            reply = await self._http.get("/v1/models", timeout=timeout or httpx.USE_CLIENT_DEFAULT)
            self._check(reply)
            return [m["id"] for m in reply.json().get("data", [])]
        except httpx.HTTPError as exc:
            raise _failed(self.name, exc) from exc

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        try:
            reply = await self._http.post("/v1/embeddings", json={"model": model,
                                                                  "input": inputs})
            self._check(reply)
            rows = sorted(reply.json()["data"], key=lambda r: r.get("index", 0))
            return [list(r["embedding"]) for r in rows]
        except httpx.HTTPError as exc:
            raise _failed(self.name, exc) from exc

    async def aclose(self) -> None:
        await self._http.aclose()


def _message(m: ChatMessage) -> dict[str, Any]:
    """A history message in OpenAI's form (tool calls with ``type: function``)."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [_wire_call(c) for c in m.tool_calls]
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or "call_0"
    return out


def _wire_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}


MAX_STREAMED_ARGUMENTS = 64_000


def _join(calls: dict[int, dict[str, Any]], piece: Any) -> None:
    """One streamed ``delta.tool_calls`` piece into the call of its ``index`` (bounded: at most
    the calls and argument characters a whole answer may hold)."""
    if not isinstance(piece, dict):
        return
    index = piece.get("index", len(calls))
    if not isinstance(index, int) or (index not in calls and len(calls) >= 32):
        return
    call = calls.setdefault(index, {"id": None, "name": "", "arguments": [], "size": 0})
    call["id"] = piece.get("id") or call["id"]
    fn = piece.get("function") or {}
    if isinstance(fn.get("name"), str) and not call["name"]:
        call["name"] = fn["name"][:200]
    part = fn.get("arguments")
    if isinstance(part, str) and call["size"] < MAX_STREAMED_ARGUMENTS:
        call["arguments"].append(part)
        call["size"] += len(part)


def _failed(name: str, exc: httpx.HTTPError) -> BackendFailed:
    kind = ("cannot connect" if isinstance(exc, httpx.ConnectError) else
            "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed")
    return BackendFailed(name, f"{kind}: {type(exc).__name__}: {exc}")
