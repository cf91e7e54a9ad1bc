"""A scripted OpenAI-compatible chat server for tests: plays back a script of answers, one per
``POST /v1/chat/completions``, and keeps every request it was sent (so a test reads the tool
messages the agent wrote). An external-service stand-in written from OpenAI's chat-completions
API reference, not a mock of our code: the hub's ``openai`` backend talks to it over HTTP.

Wire form (OpenAI's):

- ``GET /v1/models``: ``{"object": "list", "data": [{"id": ..., "object": "model", ...}]}``.
- ``POST /v1/chat/completions`` without ``stream``: ``{"id", "object": "chat.completion",
  "created", "model", "choices": [{"index": 0, "message": {"role": "assistant", "content":
  ..., "tool_calls": [{"id", "type": "function", "function": {"name", "arguments": <JSON
  text>}}]}, "finish_reason": "stop" | "tool_calls"}], "usage": {...}}``; ``content`` is null
  when the message holds tool calls.
- With ``stream: true``: server-sent ``chat.completion.chunk`` events: the role, the content,
  each tool call as a first delta with ``index``, ``id``, ``type`` and the name, then its
  ``arguments`` in pieces; a last chunk with the ``finish_reason``; with
  ``stream_options.include_usage`` one more chunk with empty ``choices`` and the ``usage``;
  then ``data: [DONE]``.
- Errors: ``{"error": {"message", "type", "code"}}`` (a 500 when the script is used up).

The same script also answers Ollama's native ``POST /api/chat`` (``GET /api/tags`` lists the
model), from Ollama's ``docs/api.md``: NDJSON by default (``"stream": false``: one object), a
chunk with ``message.tool_calls`` (``[{"function": {"name", "arguments": <object>}}]``; a
string that is not a JSON object is Ollama's 500 ``{"error": "error parsing tool call ..."}``),
then the final ``done: true`` object with ``done_reason``, ``prompt_eval_count``,
``eval_count`` and the durations (ns).

Script steps (:class:`Step`): ``say("text")`` answers text; ``call(("turn_on", {...}), ...)``
answers tool calls (arguments as an object are serialised; as a string they are sent as they
are, so a test can send malformed JSON); ``forward(engine_url, model, tool_choice=...)`` sends
the request on to a real llama.cpp server (with that ``tool_choice``) and answers what it
answers. Usage counts are the script's (``prompt_tokens`` = the request's message count,
``completion_tokens`` = 1 per call or word): a stand-in has no tokenizer.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL = "scripted"


@dataclass(frozen=True)
class Step:
    text: str | None = None
    calls: tuple[tuple[str, Any], ...] = ()
    engine: str | None = None  # forward to this llama.cpp server
    engine_model: str | None = None
    tool_choice: Any = None


def say(text: str) -> Step:
    return Step(text=text)


def call(*calls: tuple[str, Any]) -> Step:
    return Step(calls=tuple(calls))


def forward(engine_url: str, model: str, tool_choice: Any = "auto") -> Step:
    return Step(engine=engine_url, engine_model=model, tool_choice=tool_choice)


@dataclass
class Script:
    steps: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def load(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests.clear()


class ScriptedLlm:
    def __init__(self) -> None:
        self.script = Script()
        self._ids = itertools.count()
        self.app = Starlette(routes=[
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/api/tags", self.tags, methods=["GET"]),
            Route("/api/chat", self.ollama_chat, methods=["POST"]),
        ])

    async def models(self, _request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": MODEL, "object": "model", "created": 0, "owned_by": "script"}]})

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.script.requests.append(body)
        if not self.script.steps:
            return JSONResponse({"error": {"message": "the script is used up",
                                           "type": "server_error", "code": None}}, 500)
        step = self.script.steps.pop(0)
        if step.engine is not None:
            return await self._forward(step, body)
        ident = f"chatcmpl-{next(self._ids)}"
        calls = [{"id": f"call_{ident}_{i}", "type": "function",
                  "function": {"name": name, "arguments": args if isinstance(args, str)
                               else json.dumps(args)}}
                 for i, (name, args) in enumerate(step.calls)]
        reason = "tool_calls" if calls else "stop"
        usage = {"prompt_tokens": len(body.get("messages", [])),
                 "completion_tokens": len(calls) or len((step.text or "").split()) or 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        head = {"id": ident, "created": int(time.time()), "model": body.get("model", MODEL)}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant",
                                       "content": None if calls else step.text or ""}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse({**head, "object": "chat.completion", "choices": [
                {"index": 0, "message": message, "finish_reason": reason}], "usage": usage})
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_events(head, step.text, calls, reason,
                                         usage if with_usage else None),
                                 media_type="text/event-stream")

    async def tags(self, _request: Request) -> Response:
        return JSONResponse({"models": [{
            "name": f"{MODEL}:latest", "model": f"{MODEL}:latest", "size": 0, "digest": "0" * 64,
            "modified_at": "2026-01-01T00:00:00Z", "details": {
                "format": "gguf", "family": "script", "parameter_size": "0",
                "quantization_level": "F32"}}]})

    async def ollama_chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.script.requests.append(body)
        if not self.script.steps:
            return JSONResponse({"error": "the script is used up"}, 500)
        step = self.script.steps.pop(0)
        calls = []
        for name, args in step.calls:
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    args = None
                if not isinstance(args, dict):
                    return JSONResponse({"error": f"error parsing tool call: raw='{step.calls}'"},
                                        500)
            calls.append({"function": {"name": name, "arguments": args}})
        model = body.get("model", MODEL)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        message: dict[str, Any] = {"role": "assistant", "content": step.text or ""}
        if calls:
            message["tool_calls"] = calls
        final = {"model": model, "created_at": created,
                 "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": "stop", "total_duration": 1000, "load_duration": 0,
                 "prompt_eval_count": len(body.get("messages", [])),
                 "prompt_eval_duration": 500,
                 "eval_count": len(calls) or len((step.text or "").split()) or 1,
                 "eval_duration": 500}
        if body.get("stream") is False:
            return JSONResponse({**final, "message": message})
        head = {"model": model, "created_at": created, "message": message, "done": False}
        lines = [json.dumps(head) + "\n", json.dumps(final) + "\n"]
        return StreamingResponse(iter(lines), media_type="application/x-ndjson")

    async def _forward(self, step: Step, body: dict[str, Any]) -> Response:
        sent = {**body, "model": step.engine_model, "tool_choice": step.tool_choice}
        async with httpx.AsyncClient(base_url=step.engine or "", timeout=120) as client:
            reply = await client.post("/v1/chat/completions", json=sent)
        return Response(reply.content, reply.status_code,
                        media_type=reply.headers.get("content-type"))


async def _events(head: dict[str, Any], text: str | None, calls: list[dict[str, Any]],
                  reason: str, usage: dict[str, Any] | None) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        event = {**head, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(event)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    for word in (text or "").split(" ") if text else []:
        yield chunk({"content": word + " "})
    for i, c in enumerate(calls):
        yield chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                     "function": {"name": c["function"]["name"],
                                                  "arguments": ""}}]})
        args = c["function"]["arguments"]
        for start in range(0, len(args), 7):  # the arguments in pieces
            yield chunk({"tool_calls": [{"index": i, "function": {
                "arguments": args[start:start + 7]}}]})
    yield chunk({}, reason)
    if usage is not None:
        yield f"data: {json.dumps({**head, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n".encode()  # noqa: E501
    yield b"data: [DONE]\n\n"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@dataclass
class RunningScript:
    server: ScriptedLlm
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def script(self) -> Script:
        return self.server.script


@contextlib.contextmanager
def running_script(host: str = "127.0.0.1", start_timeout: float = 20.0
                   ) -> Iterator[RunningScript]:
    """Serve a :class:`ScriptedLlm` on a free port in a uvicorn thread; stop it on exit."""
    server = ScriptedLlm()
    sock = socket.socket()
    sock.bind((host, 0))
    uv = _Server(uvicorn.Config(server.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, name="scripted-llm",
                              daemon=True)
    thread.start()
    try:
        if not uv.ready.wait(start_timeout):
            raise RuntimeError(f"the scripted LLM did not start within {start_timeout:g}s")
        yield RunningScript(server, host, sock.getsockname()[1])
    finally:
        uv.should_exit = True
        thread.join(10.0)
        sock.close()
