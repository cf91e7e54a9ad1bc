"""The panel's context: the hub's view, auth, live feeds and the signed-in user of a page.

One :class:`Panel` per web server, created in its startup and passed to every page builder
(nothing global). A browser's session is a token pair from the same
:class:`~ui.api.auth.AuthService` as the REST API, kept server-side in NiceGUI's per-browser
``app.storage.user``; an expired access token is refreshed (rotating the refresh token), a
revoked session sends the browser back to the login page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nicegui import app

from spark.core.events import HubEvent
from spark.hub.services import Caller, ServiceError
from spark.hub.view import HubView
from spark.ui.api.auth import AuthError, AuthService, Principal, TokenPair
from spark.ui.api.view import HubQueries, Site
from spark.ui.config import UiConfig
from spark.ui.feeds import FEED_TYPES, RecentEvents, VoiceLog

if TYPE_CHECKING:
    from spark.core.mqtt import MqttClient

log = logging.getLogger(__name__)
SESSION_KEYS = ("access", "refresh", "expires")


class Panel:
    def __init__(self, hub: HubView, site: Site, config: UiConfig, auth: AuthService) -> None:
        self.hub = hub
        self.config = config
        self.auth = auth
        self.view = HubQueries(hub, site)
        self.recent = RecentEvents(self.view, config.recent_events)
        self.voice = VoiceLog(self.view)
        self.refresh_lock = asyncio.Lock()
        self._unlisten: list[Callable[[], None]] = [
            hub.bus.listen(self._on_event, FEED_TYPES)]
        hub.when_attached(self.attach)

    def attach(self, client: MqttClient) -> None:
        self.voice.attach(client)

    def close(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        self._unlisten.clear()
        self.voice.close()

    def _on_event(self, event: HubEvent) -> None:
        self.recent.take(event)
        self.voice.on_event(event)

    @property
    def storage_secret(self) -> str:
        """NiceGUI's session-cookie key, derived from the JWT signing key."""
        return self.auth.signer.derive("prime-spark panel session")

    def session(self) -> Session:
        """The current browser's session (call while building a page: it binds the
        browser's server-side storage, so handlers and tasks of the page can use it)."""
        return Session(self, app.storage.user)


class Session:
    """One browser's sign-in: a token pair in its ``app.storage.user``."""

    def __init__(self, panel: Panel, store: Any) -> None:
        self.panel = panel
        self.auth = panel.auth
        self.store = store

    async def principal(self) -> Principal | None:
        """The signed-in user, refreshing an expired access token; None: signed out."""
        store = self.store
        access = store.get("access")
        if access:
            try:
                return self.auth.verify(access)
            except AuthError:
                pass
        refresh = store.get("refresh")
        if not refresh:
            return None
        async with self.panel.refresh_lock:
            if store.get("refresh") != refresh:  # another tab of this browser refreshed first
                return await self.principal()
            try:
                pair = await self.auth.refresh(refresh)
            except AuthError as exc:
                log.info("panel: session ended: %s", exc)
                self._forget()
                return None
            self._keep(pair)
            return pair.principal

    async def sign_in(self, username: str, password: str, ip: str) -> Principal:
        pair = await self.auth.login(username, password, ip)
        self._keep(pair)
        return pair.principal

    async def sign_out(self) -> None:
        refresh = self.store.get("refresh")
        self._forget()
        if refresh:
            await self.auth.logout(refresh)

    def _keep(self, pair: TokenPair) -> None:
        self.store.update(access=pair.access_token, refresh=pair.refresh_token,
                          expires=pair.expires_at)

    def _forget(self) -> None:
        for key in SESSION_KEYS:
            self.store.pop(key, None)

    async def call(self, service: str, entity_id: str, data: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
        """A service call from a control, as this user: operators and admins only; waits
        until the device confirms (``ui.control_timeout``). Raises ServiceError."""
        principal = await self.principal()
        if principal is None or not principal.can("operator"):
            raise ServiceError("your session has ended or your role cannot control devices")
        services = self.panel.hub.services
        if services is None:
            raise ServiceError("the hub is starting")
        return await services.call(service, entity_id, data or {}, wait=True,
                                   timeout=self.panel.config.control_timeout,
                                   caller=Caller.user(principal.username, principal.role))
