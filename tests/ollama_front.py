"""An Ollama-API front for tests: Ollama's native HTTP API, written from Ollama's
``docs/api.md`` (and its ``server/routes.go`` for status codes), served by starlette + uvicorn in
front of a REAL llama.cpp server (``python -m llama_cpp.server``, OpenAI-compatible), so the
text, the streaming and the token counts are the engine's own. No PyPI package serves Ollama's
API faithfully over a local engine (see ../shared/wheels/README.md).

Served: ``POST /api/chat`` and ``POST /api/generate`` (NDJSON stream by default, one object with
``"stream": false``; ``done``, ``done_reason`` ``stop``/``length``/``load``/``unload``, the
durations in ns, ``prompt_eval_count``, ``eval_count``; ``options`` mapped to the engine's
sampling parameters; ``keep_alive``; ``format``; ``tools`` and ``message.tool_calls``),
``POST /api/embed`` (L2-normalised like Ollama, ``dimensions``) and the legacy
``/api/embeddings``, ``GET /api/tags``, ``GET /api/ps``, ``GET /api/version``, ``POST /api/show``.
Errors are ``{"error": "..."}`` with Ollama's codes: 404 unknown model, 400 bad request, 500 an
engine failure; an engine failure after streaming began is an ``{"error"}`` line in the stream,
as Ollama's ``streamResponse`` writes it.

Token counts. The engine reports ``usage`` only on a non-streamed answer (llama-cpp-python's
stream carries none, and counting chunks or re-tokenising the text is wrong: chunks merge tokens
held back for stop sequences or split UTF-8, and random-weight output re-tokenises differently).
So a streamed request is sent with an explicit ``seed`` (the caller's, or a fresh random one:
Ollama's "random unless seeded" holds) and, after the stream, the same request is replayed
non-streamed: same seed, same output (checked; a mismatch is logged), and its ``usage`` gives
the final chunk's ``prompt_eval_count`` / ``eval_count``. The replay runs after the last text
chunk, so time to first token is untouched; ``total_duration`` is measured before it. Measured
on the tiny test model (20 tokens, seeded): first chunk through the front +1.3 ms (p50) over the
engine's own stream; the replay delays the final chunk by one non-streamed call (~7 ms).
``FrontConfig.exact_stream_counts = False`` skips it (counts are then absent from the stream).

Durations: ``load_duration`` 0 (the engine keeps its models loaded), ``prompt_eval_duration``
time to the first chunk, ``eval_duration`` the rest. ``context`` (deprecated) is not returned.

Serving it (a uvicorn thread, the session fixtures, the command line): tests/ollama_fixture.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from ollama_wire import (
    ChatRequest,
    EmbeddingsRequest,
    EmbedRequest,
    EngineStreamError,
    FrontConfig,
    FrontError,
    FrontModel,
    GenerateRequest,
    ShowRequest,
    engine_events,
    engine_message,
    engine_status,
    from_openai_tool_calls,
    keep_alive_seconds,
    ndjson,
    normalize,
    now,
    parse,
    sampling,
    to_openai_messages,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

log = logging.getLogger("ollama_front")
VERSION = "0.12.0"
NDJSON = "application/x-ndjson"


@dataclass
class Loaded:
    name: str
    expires: datetime


@dataclass
class _Turn:
    """One engine call, as the front builds and then reports it."""

    request: Any
    path: str
    body: dict[str, Any]
    kind: Literal["chat", "generate"]
    started: float = field(default_factory=time.perf_counter)

    def chunk(self, text: str, *, done: bool) -> dict[str, Any]:
        base: dict[str, Any] = {"model": self.request.model, "created_at": now()}
        if self.kind == "chat":
            base["message"] = {"role": "assistant", "content": text}
        else:
            base["response"] = text
        base["done"] = done
        return base


class OllamaFront:
    """The front's routes over one llama.cpp engine; ``app`` is the ASGI application."""

    def __init__(self, config: FrontConfig) -> None:
        self.config = config
        self.created = now()
        self.loaded: dict[str, Loaded] = {}
        self.replay_mismatches = 0
        self._client: httpx.AsyncClient | None = None
        routes = [
            Route("/", self.root, methods=["GET", "HEAD"]),
            Route("/api/version", self.version, methods=["GET"]),
            Route("/api/tags", self.tags, methods=["GET"]),
            Route("/api/ps", self.ps, methods=["GET"]),
            Route("/api/show", self.show, methods=["POST"]),
            Route("/api/chat", self.chat, methods=["POST"]),
            Route("/api/generate", self.generate, methods=["POST"]),
            Route("/api/embed", self.embed, methods=["POST"]),
            Route("/api/embeddings", self.embeddings, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes, lifespan=self._lifespan,
                             exception_handlers={FrontError: self._error})

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(self.config.read_timeout, connect=self.config.connect_timeout)
        async with httpx.AsyncClient(base_url=self.config.engine_url, timeout=timeout) as client:
            self._client = client
            yield
        self._client = None

    async def _error(self, _request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FrontError)
        return exc.response()

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "the front is not running"
        return self._client

    # --- models ----------------------------------------------------------------------------

    def lookup(self, name: str, status: int = 404) -> tuple[str, FrontModel]:
        if not name:
            raise FrontError(400, "model is required")
        full = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
        if full not in self.config.models:
            raise FrontError(status, f"model '{name}' not found")
        return full, self.config.models[full]

    def touch(self, full: str, keep_alive: float | str | None) -> float:
        seconds = keep_alive_seconds(keep_alive)
        if seconds == 0:
            self.loaded.pop(full, None)
        else:
            until = (datetime.now(UTC) + timedelta(seconds=seconds) if seconds > 0
                     else datetime.max.replace(tzinfo=UTC))
            self.loaded[full] = Loaded(full, until)
        return seconds

    def _entry(self, full: str, m: FrontModel) -> dict[str, Any]:
        return {
            "name": full, "model": full, "size": m.size,
            "digest": hashlib.sha256(f"{full}={m.chat}".encode()).hexdigest(),
            "details": {"parent_model": "", "format": "gguf", "family": m.family,
                        "families": [m.family], "parameter_size": m.parameter_size,
                        "quantization_level": m.quantization_level},
        }

    async def root(self, _request: Request) -> Response:
        return Response("Ollama is running", media_type="text/plain")

    async def version(self, _request: Request) -> Response:
        return JSONResponse({"version": VERSION})

    async def tags(self, _request: Request) -> Response:
        models = [{**self._entry(n, m), "modified_at": self.created}
                  for n, m in self.config.models.items()]
        return JSONResponse({"models": models})

    async def ps(self, _request: Request) -> Response:
        current = datetime.now(UTC)
        self.loaded = {k: v for k, v in self.loaded.items() if v.expires > current}
        models = [{**self._entry(k, self.config.models[k]), "size_vram": 0,
                   "expires_at": v.expires.isoformat().replace("+00:00", "Z")}
                  for k, v in self.loaded.items()]
        return JSONResponse({"models": models})

    async def show(self, request: Request) -> Response:
        req: ShowRequest = await parse(request, ShowRequest)
        full, m = self.lookup(req.model or req.name or "")
        capabilities = ["completion"] + (["tools"] if m.tools else []) + (
            ["embedding"] if m.embed else [])
        entry = self._entry(full, m)
        return JSONResponse({
            "modelfile": f"# front over the engine model {m.chat}\nFROM {m.chat}\n",
            "parameters": "", "template": "{{ .Prompt }}", "details": entry["details"],
            "model_info": {"general.architecture": m.family}, "capabilities": capabilities,
            "modified_at": self.created,
        })

    # --- chat and generate -----------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        req: ChatRequest = await parse(request, ChatRequest)
        full, m = self.lookup(req.model)
        seconds = self.touch(full, req.keep_alive)
        if not req.messages:
            return self._load_answer(_Turn(req, "", {}, "chat"), seconds)
        alias = m.tools if req.tools and m.tools else m.chat
        body = {"model": alias, "messages": to_openai_messages(req.messages),
                **sampling(req.options, req.format)}
        if req.tools:  # Ollama lets the model choose; llama-cpp-python calls none without "auto"
            body["tools"] = req.tools
            body["tool_choice"] = "auto"
        turn = _Turn(req, "/v1/chat/completions", body, "chat")
        if not req.stream or req.tools:  # tool calls come whole from the engine
            return await self._whole(turn)
        return await self._stream(turn)

    async def generate(self, request: Request) -> Response:
        req: GenerateRequest = await parse(request, GenerateRequest)
        full, m = self.lookup(req.model)
        seconds = self.touch(full, req.keep_alive)
        if req.images:
            raise FrontError(400, "this model does not support image input")
        if req.raw and (req.system or req.template or req.context):
            raise FrontError(400, "raw mode does not support template, system, or context")
        if not req.prompt:
            return self._load_answer(_Turn(req, "", {}, "generate"), seconds)
        options = sampling(req.options, req.format)
        if req.raw:
            turn = _Turn(req, "/v1/completions",
                         {"model": m.chat, "prompt": req.prompt, **options}, "generate")
        else:
            messages = ([{"role": "system", "content": req.system}] if req.system else [])
            messages.append({"role": "user", "content": req.prompt})
            turn = _Turn(req, "/v1/chat/completions",
                         {"model": m.chat, "messages": messages, **options}, "generate")
        return await (self._stream(turn) if req.stream else self._whole(turn))

    def _load_answer(self, turn: _Turn, seconds: float) -> Response:
        answer = turn.chunk("", done=True)
        answer["done_reason"] = "unload" if seconds == 0 else "load"
        return JSONResponse(answer)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            try:
                reply = await self.client.post(path, json=body)
            except (httpx.RemoteProtocolError, httpx.ReadError):  # a pooled one the engine closed
                reply = await self.client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise FrontError(500, f"engine unreachable: {exc!r}") from exc
        if reply.status_code != 200:
            raise FrontError(engine_status(reply.status_code), engine_message(reply.text))
        data: dict[str, Any] = reply.json()
        return data

    def _final(self, turn: _Turn, reason: str | None, first: float | None,
               end: float) -> dict[str, Any]:
        final = turn.chunk("", done=True)
        first = first if first is not None else end
        final.update({
            "done_reason": {"length": "length"}.get(reason or "stop", "stop"),
            "total_duration": int((end - turn.started) * 1e9), "load_duration": 0,
            "prompt_eval_duration": int((first - turn.started) * 1e9),
            "eval_duration": int((end - first) * 1e9),
        })
        return final

    async def _whole(self, turn: _Turn) -> Response:
        data = await self._post(turn.path, turn.body)
        end = time.perf_counter()
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        calls = from_openai_tool_calls((choice.get("message") or {}).get("tool_calls"))
        usage = data.get("usage") or {}
        final = self._final(turn, choice.get("finish_reason"), end, end)
        final["prompt_eval_count"] = usage.get("prompt_tokens", 0)
        final["eval_count"] = usage.get("completion_tokens", 0)
        head = turn.chunk(text, done=False)
        if calls:
            head["message"]["tool_calls"] = calls
        if not turn.request.stream:  # one object: the text in the final one
            if turn.kind == "chat":
                final["message"] = head["message"]
            else:
                final["response"] = text
            return JSONResponse(final)
        lines = [head, final] if text or calls else [final]
        return StreamingResponse(iter(ndjson(x) for x in lines), media_type=NDJSON)

    async def _stream(self, turn: _Turn) -> Response:
        if self.config.exact_stream_counts and "seed" not in turn.body:
            turn.body["seed"] = random.randrange(2**31)
        request = self.client.build_request("POST", turn.path, json={**turn.body, "stream": True})
        try:
            upstream = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise FrontError(500, f"engine unreachable: {exc!r}") from exc
        if upstream.status_code != 200:
            text = (await upstream.aread()).decode(errors="replace")
            await upstream.aclose()
            raise FrontError(engine_status(upstream.status_code), engine_message(text))
        # Wait for the engine's first event before answering, so that an engine failing before
        # any output gets Ollama's error status, not a 200 (llama-cpp-python answers 200 and then
        # closes an event stream whose request failed, e.g. a prompt over the context).
        events = engine_events(upstream)
        try:
            first = await anext(events)
        except (StopAsyncIteration, EngineStreamError):
            await upstream.aclose()
            await self._post(turn.path, turn.body)  # raises the engine's error, as it states it
            raise FrontError(500, "the engine's stream ended before any output") from None
        return StreamingResponse(self._relay(turn, upstream, first, events), media_type=NDJSON)

    async def _relay(self, turn: _Turn, upstream: httpx.Response, head: dict[str, Any],
                     events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        parts: list[str] = []
        reason: str | None = None
        first: float | None = None
        try:
            choice: dict[str, Any] | None = head
            while choice is not None:
                text = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                reason = choice.get("finish_reason") or reason
                if text:
                    first = first if first is not None else time.perf_counter()
                    parts.append(text)
                    yield ndjson(turn.chunk(text, done=False))
                choice = await anext(events, None)
        except EngineStreamError as exc:
            yield ndjson({"error": str(exc)})  # after output: an error line, as Ollama writes it
            return
        finally:
            await upstream.aclose()
        final = self._final(turn, reason, first, time.perf_counter())
        if self.config.exact_stream_counts:
            try:
                final.update(await self._replay_counts(turn, "".join(parts)))
            except FrontError as exc:
                yield ndjson({"error": exc.message})
                return
        yield ndjson(final)

    async def _replay_counts(self, turn: _Turn, streamed: str) -> dict[str, int]:
        data = await self._post(turn.path, turn.body)
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        if text != streamed:
            self.replay_mismatches += 1
            log.warning("replay of a stream differs from it (%r != %r): counts are the replay's",
                        text[:40], streamed[:40])
        usage = data.get("usage") or {}
        return {"prompt_eval_count": usage.get("prompt_tokens", 0),
                "eval_count": usage.get("completion_tokens", 0)}

    # --- embeddings ------------------------------------------------------------------------

    async def embed(self, request: Request) -> Response:
        req: EmbedRequest = await parse(request, EmbedRequest)
        full, m = self.lookup(req.model)
        self.touch(full, req.keep_alive)
        started = time.perf_counter()
        inputs = [req.input] if isinstance(req.input, str) else list(req.input)
        inputs = [text for text in inputs if text]
        if not inputs:
            return JSONResponse({"model": req.model, "embeddings": []})
        if m.embed is None:
            raise FrontError(400, f'"{req.model}" does not support embeddings')
        data = await self._post("/v1/embeddings", {"model": m.embed, "input": inputs})
        vectors = []
        for item in data["data"]:
            vector = normalize(item["embedding"])
            if req.dimensions and 0 < req.dimensions < len(vector):
                vector = normalize(vector[: req.dimensions])
            vectors.append(vector)
        return JSONResponse({
            "model": req.model, "embeddings": vectors,
            "total_duration": int((time.perf_counter() - started) * 1e9), "load_duration": 0,
            "prompt_eval_count": (data.get("usage") or {}).get("prompt_tokens", 0),
        })

    async def embeddings(self, request: Request) -> Response:
        req: EmbeddingsRequest = await parse(request, EmbeddingsRequest)
        full, m = self.lookup(req.model)
        self.touch(full, req.keep_alive)
        if not req.prompt:
            return JSONResponse({"embedding": []})
        if m.embed is None:
            raise FrontError(400, f'"{req.model}" does not support embeddings')
        data = await self._post("/v1/embeddings", {"model": m.embed, "input": req.prompt})
        return JSONResponse({"embedding": data["data"][0]["embedding"]})
