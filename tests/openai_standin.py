"""A scripted OpenAI-compatible server for tests that need an answer no real engine gives on
purpose (hostile text, a slow stream to stop, an error in the middle of a stream).

Written from OpenAI's API reference (Chat Completions, streaming): ``GET /v1/models`` lists
``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``;
``POST /v1/chat/completions`` with ``stream: true`` answers ``text/event-stream``, one
``data: <chat.completion.chunk>`` event per piece (``choices[0].delta.content``), a last chunk
with ``finish_reason``, with ``stream_options.include_usage`` one more chunk with empty
``choices`` and ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``), then
``data: [DONE]``; without ``stream`` one ``chat.completion`` object. Errors are
``{"error": {"message", "type", "param", "code"}}``.

What it answers depends on the last user message: ``slow`` streams :data:`SLOW_PIECES` pieces
0.1 s apart (it notes in :attr:`StandIn.disconnected` when the client went away), ``break``
sends two pieces then an error event whose message is :data:`HOSTILE_ERROR`, anything else is
:data:`HOSTILE_ANSWER` in pieces. The model is called :data:`HOSTILE_MODEL`. Its token counts
are its pieces (a stand-in's own count, stated as such). A threaded stdlib server: tests that
drive a browser synchronously use it as a context manager.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
HOSTILE_ANSWER = ('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
                  '<b>bold?</b> {{ 7*7 }}')
HOSTILE_MODEL = '<i onmouseover="window.__pwned=3">stand-in</i>'
HOSTILE_ERROR = '<img src=y onerror="window.__pwned=4"> engine fault'
SLOW_PIECES = 300
MAX_BODY = 1 << 20


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-standin", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}


class StandIn:
    """``with StandIn() as api: api.url``; :attr:`disconnected` is set once a slow stream's
    client went away."""

    def __init__(self) -> None:
        self.disconnected = threading.Event()
        self.closing = threading.Event()
        self.requests = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _json(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self._json(404, {"error": {"message": "not found", "type":
                                               "invalid_request_error", "param": None,
                                               "code": None}})
                    return
                self._json(200, {"object": "list", "data": [
                    {"id": HOSTILE_MODEL, "object": "model", "created": 0,
                     "owned_by": "stand-in"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path != "/v1/chat/completions" or not 0 < length <= MAX_BODY:
                    self._json(404, {"error": {"message": "not found", "type":
                                               "invalid_request_error", "param": None,
                                               "code": None}})
                    return
                body = json.loads(self.rfile.read(length))
                standin.requests += 1
                asked = next((m.get("content", "") for m in reversed(body.get("messages", []))
                              if m.get("role") == "user"), "")
                prompt_tokens = sum(len(str(m.get("content", "")).split())
                                    for m in body.get("messages", []))
                if "slow" in asked:
                    pieces, fault = ["tick "] * SLOW_PIECES, None
                elif "break" in asked:
                    pieces, fault = ["half ", "an answer "], HOSTILE_ERROR
                else:
                    pieces, fault = [HOSTILE_ANSWER[i:i + 12]
                                     for i in range(0, len(HOSTILE_ANSWER), 12)], None
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                         "total_tokens": prompt_tokens + len(pieces)}
                if not body.get("stream"):
                    self._json(200, {"id": "chatcmpl-standin", "object": "chat.completion",
                                     "created": int(time.time()), "model": HOSTILE_MODEL,
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant",
                                                              "content": "".join(pieces)}}],
                                     "usage": usage})
                    return
                self._stream(pieces, fault, usage, slow="slow" in asked,
                             include_usage=bool((body.get("stream_options") or {})
                                                .get("include_usage")))

            def _stream(self, pieces: list[str], fault: str | None, usage: dict[str, int],
                        slow: bool, include_usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()

                def event(data: object) -> None:
                    text = data if isinstance(data, str) else json.dumps(data)
                    self.wfile.write(f"data: {text}\n\n".encode())
                    self.wfile.flush()

                try:
                    event(_chunk(HOSTILE_MODEL, {"role": "assistant", "content": ""}))
                    for piece in pieces:
                        event(_chunk(HOSTILE_MODEL, {"content": piece}))
                        if slow and standin.closing.wait(0.1):
                            return
                    if fault is not None:
                        event({"error": {"message": fault, "type": "server_error",
                                         "param": None, "code": None}})
                        return
                    event(_chunk(HOSTILE_MODEL, {}, "stop"))
                    if include_usage:
                        event({"id": "chatcmpl-standin", "object": "chat.completion.chunk",
                               "created": int(time.time()), "model": HOSTILE_MODEL,
                               "choices": [], "usage": usage})
                    event("[DONE]")
                except (BrokenPipeError, ConnectionResetError):
                    if slow:
                        standin.disconnected.set()

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="openai-standin",
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving (idempotent): the port refuses connections from now on."""
        if self.closing.is_set():
            return
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
