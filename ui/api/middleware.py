"""ASGI middleware around the whole web app (API and panel): security headers on every
response, the general API rate limit, and CORS for the configured origins only.

The Content-Security-Policy is the tightest the panel works with, measured in Chromium
(tests/security/test_web_attacks.py): NiceGUI's page is built by inline scripts and Vue
compiles element templates at run time, so scripts need 'unsafe-inline' and 'unsafe-eval';
everything else is this origin only, and no page may frame the panel.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spark.ui.api.ratelimit import Refused, RequestLimiter

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
       "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'self'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}
HSTS = "max-age=31536000"


class SecurityHeaders:
    """Adds :data:`HEADERS` (and HSTS over HTTPS) to every HTTP response that does not set
    its own value (an image response keeps its stricter CSP)."""

    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        extra = {"strict-transport-security": HSTS} if https else {}
        self.headers = [(k.encode(), v.encode()) for k, v in {**HEADERS, **extra}.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self.headers if k not in have)]
            await send(message)

        await self.app(scope, receive, with_headers)


class RateLimit:
    """``requests`` per client address per ``window`` on ``/api/``; past it, 429 with
    Retry-After (seconds)."""

    def __init__(self, app: ASGIApp, requests: int, window: float,
                 prefixes: Iterable[str] = ("/api/",)) -> None:
        self.app = app
        self.limiter = RequestLimiter(requests, window)
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(self.prefixes):
            client = scope.get("client")
            address = client[0] if client else "unknown"
            try:
                self.limiter.take(address)
            except Refused as exc:
                wait = max(1, round(exc.retry_after + 0.5))
                body = json.dumps({"detail": f"too many requests; retry in {wait} s"}).encode()
                await send({"type": "http.response.start", "status": 429, "headers": [
                    (b"content-type", b"application/json"), (b"retry-after", str(wait).encode()),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def secure(app: ASGIApp, *, https: bool, cors_origins: list[str], requests: int,
           window: float) -> ASGIApp:
    """The app wrapped: headers outermost, then the rate limit, then CORS."""
    inner = CORSMiddleware(app, allow_origins=cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"],
                           allow_credentials=False, max_age=600)
    return SecurityHeaders(RateLimit(inner, requests, window), https)
