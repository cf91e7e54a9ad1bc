"""The web server inside the hub process: REST API + NiceGUI panel on one uvicorn, on the hub's
event loop (task ``hub-web``, run beside the hub by app/runtime). It reads the hub through
:class:`~hub.view.HubView` only.

:func:`start_panel` is the startup function: it opens the users database, builds the API,
registers the pages with their :class:`~ui.panel.Panel` and mounts NiceGUI on the API app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn

from spark.core.errors import SparkError
from spark.hub.view import HubView
from spark.ui.api.auth import AuthService, default_users_url
from spark.ui.api.middleware import secure
from spark.ui.api.view import Site
from spark.ui.config import UiConfig

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp

    from spark.ui.panel import Panel

log = logging.getLogger(__name__)


class WebError(SparkError):
    """The panel's web server could not start (port taken, database unreachable...)."""


def panel_url(config: UiConfig) -> str:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    scheme = "https" if config.tls is not None else "http"
    return f"{scheme}://{host}:{config.port}/"


def make_auth(config: UiConfig, recorder_url: str) -> AuthService:
    url = config.auth.users_url or default_users_url(recorder_url, config.data_dir)
    return AuthService(config.auth, url, config.data_dir)


async def start_panel(hub: HubView, site: Site, config: UiConfig, recorder_url: str
                      ) -> tuple[Panel, FastAPI]:
    """Auth, API and pages (NiceGUI's session files go under ``data_dir/sessions``)."""
    from nicegui import ui
    from nicegui.storage import Storage

    from spark.ui.api.app import build_api
    from spark.ui.pages import register
    from spark.ui.panel import Panel

    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    sessions = config.data_dir / "sessions"
    sessions.mkdir(exist_ok=True, mode=0o700)
    Storage.path = sessions.resolve()
    auth = make_auth(config, recorder_url)
    await auth.start()
    panel = Panel(hub, site, config, auth)
    api = build_api(panel.view, auth)
    register(panel)
    ui.run_with(api, title="Prime Spark", dark=True, storage_secret=panel.storage_secret,
                session_middleware_kwargs={"https_only": config.https_cookies,
                                           "same_site": "strict"},
                show_welcome_message=False, favicon="⚡", reconnect_timeout=10.0)
    same_origin_socket()
    return panel, api


def same_origin_socket() -> None:
    """NiceGUI's socket.io server accepts any Origin (``cors_allowed_origins='*'``): only
    the panel's own origin may open it (engine.io's default for None)."""
    from nicegui import core

    core.sio.eio.cors_allowed_origins = None


def server_config(app: ASGIApp, config: UiConfig) -> uvicorn.Config:
    """uvicorn for ``app`` wrapped in the security middleware: TLS from ``ui.tls``, and
    forwarded headers believed only from ``ui.trusted_proxies`` (uvicorn's own default
    trusts 127.0.0.1, which lets any local caller pick its address)."""
    tls = config.tls
    return uvicorn.Config(
        secure(app, https=tls is not None, cors_origins=config.cors_origins,
               requests=config.rate_limit.requests, window=config.rate_limit.window),
        log_level="warning", access_log=False, lifespan="on", ws="websockets-sansio",
        timeout_graceful_shutdown=2, proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=list(config.trusted_proxies) or [],
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the hub's CLI owns SIGINT / SIGTERM


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    # (proto 0 left every keep-alive response waiting ~40 ms on Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WebError(f"panel: cannot listen on {host}:{port} ({exc.strerror}); "
                       "set ui.port (or ui.enabled: false)") from exc
    sock.set_inheritable(True)
    return sock


class WebServer:
    """Run with :meth:`run` until :meth:`stop`. ``panel`` is set once it is serving. The
    users database defaults to ``users.db`` beside the recorder's SQLite file
    (``recorder_url``)."""

    def __init__(self, hub: HubView, site: Site, config: UiConfig, *, recorder_url: str) -> None:
        self.hub = hub
        self.site = site
        self.config = config
        self.recorder_url = recorder_url
        self.panel: Panel | None = None
        self.started = asyncio.Event()
        self._server: _Server | None = None
        self._stopping = False
        self._sock: socket.socket | None = None

    def reserve(self) -> None:
        """Bind the panel's port now, so a taken port is an error at start (WebError), not a
        log line after the start-up summary; :meth:`run` serves on this socket."""
        if self._sock is None:
            self._sock = bind(self.config.host, self.config.port)

    @property
    def url(self) -> str:
        return panel_url(self.config)

    async def run(self) -> None:
        try:
            sock, self._sock = self._sock or bind(self.config.host, self.config.port), None
        except WebError as exc:
            log.error("%s", exc)
            return
        try:
            self.panel, api = await start_panel(self.hub, self.site, self.config,
                                                self.recorder_url)
            self._server = _Server(server_config(api, self.config), self._serving)
            if not self._stopping:
                await self._server.serve(sockets=[sock])
        finally:
            sock.close()
            if self.panel is not None:
                self.panel.close()
                self.panel.auth.close()

    def _serving(self) -> None:
        log.info("panel: serving %s (API docs %sapi/docs)", self.url, self.url)
        self.started.set()

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.should_exit = True
