"""Any OpenAI-compatible server (llama.cpp, vLLM, LM Studio, hosted APIs, Ollama's ``/v1``)
over httpx: ``/v1/chat/completions`` (SSE streaming; ``stream_options.include_usage`` asks for
the token counts where the server gives them), ``/v1/models``, ``/v1/embeddings``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import orjson

from spark.core.messages.llm import ChatMessage, LlmOptions, LlmRequest
from spark.hub.llm.backends.base import BackendEvent, Delta, Done, LlmBackend
from spark.hub.llm.config import OllamaBackendConfig, OpenAiBackendConfig
from spark.hub.llm.errors import BackendFailed


class OpenAiBackend(LlmBackend):
    type = "openai"

    def __init__(self, config: OllamaBackendConfig | OpenAiBackendConfig) -> None:
        super().__init__(config)
        self._http = httpx.AsyncClient(base_url=config.url.rstrip("/"), timeout=self.timeout(),
                                       headers=self.headers(), limits=self.limits())

    def _body(self, model: str, messages: list[ChatMessage], options: LlmOptions,
              stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "stream": stream,
                                "messages": [m.model_dump() for m in messages]}
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
        body = self._body(model, request.chat(), request.options, stream)
        try:
            if not stream:
                reply = await self._http.post("/v1/chat/completions", json=body)
                self._check(reply)
                data = reply.json()
                choice = data["choices"][0]
                usage = data.get("usage") or {}
                yield Delta(choice["message"].get("content") or "")
                yield Done(data.get("model", model), usage.get("prompt_tokens"),
                           usage.get("completion_tokens"), choice.get("finish_reason"))
                return
            async with self._http.stream("POST", "/v1/chat/completions", json=body) as reply:
                if reply.status_code >= 400:
                    await reply.aread()
                    self._check(reply)
                async for event in self._events(reply, model):
                    yield event
        except httpx.HTTPError as exc:
            raise _failed(self.name, exc) from exc
        except (KeyError, IndexError, ValueError) as exc:
            raise BackendFailed(self.name, f"malformed answer: {exc!r}") from exc

    async def _events(self, reply: httpx.Response, model: str) -> AsyncIterator[BackendEvent]:
        usage: dict[str, Any] = {}
        reason: str | None = None
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
                text = (choice.get("delta") or {}).get("content")
                if text:
                    yield Delta(text)
                reason = choice.get("finish_reason") or reason
        else:
            raise BackendFailed(self.name, "stream ended without [DONE]")
        yield Done(model, usage.get("prompt_tokens"), usage.get("completion_tokens"), reason)

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


def _failed(name: str, exc: httpx.HTTPError) -> BackendFailed:
    kind = ("cannot connect" if isinstance(exc, httpx.ConnectError) else
            "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed")
    return BackendFailed(name, f"{kind}: {type(exc).__name__}: {exc}")
