"""``/login``: username and password; the same accounts, roles and rate limit as the API.

A user with a generated password (the first admin, ``spark user add|reset-password``) is led
from here to a change-password form: their tokens are good for nothing else until then, so
the session keeps only the pair issued for the new password.

Session fixation: the sign-in (a socket.io event) cannot set a cookie, so it ends with a
one-time ticket (random, 30 s, bound to the browser's session id) that the browser brings to
``/login/complete``, an HTTP route: it gives the browser a *new* session id, puts the token
pair in that id's fresh storage and drops the old storage. A session cookie planted before
the sign-in is therefore worth nothing after it. ``/logout`` ends the tokens and rotates the
id the same way.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from spark.ui.api.auth import AuthError, TokenPair
from spark.ui.panel import SESSION_KEYS, Panel

TICKET_TTL = 30.0
MAX_TICKETS = 1000


@dataclass(frozen=True, slots=True)
class Ticket:
    pair: TokenPair
    session_id: str
    expires: float


class Tickets:
    """Sign-ins waiting for their browser to come to ``/login/complete`` (one per panel)."""

    def __init__(self) -> None:
        self._open: dict[str, Ticket] = {}

    def issue(self, pair: TokenPair, session_id: str) -> str:
        now = time.monotonic()
        self._open = {k: t for k, t in self._open.items() if t.expires > now}
        while len(self._open) >= MAX_TICKETS:
            del self._open[next(iter(self._open))]
        ticket = secrets.token_urlsafe(32)
        self._open[ticket] = Ticket(pair, session_id, now + TICKET_TTL)
        return ticket

    def redeem(self, ticket: str, session_id: str | None) -> TokenPair | None:
        found = self._open.pop(ticket, None)
        if found is None or found.expires < time.monotonic() or found.session_id != session_id:
            return None
        return found.pair


async def rotate_session(request: Request) -> Any:
    """A new session id for this browser (its cookie is re-signed on the response), a fresh
    storage for it, the old id's storage emptied and forgotten. Uses NiceGUI's storage
    internals (``_users``, ``_create_user_storage``): there is no public call for it."""
    storage = app.storage
    old = request.session.get("id")
    new = str(uuid.uuid4())
    request.session["id"] = new
    await storage._create_user_storage(new)
    dropped = storage._users.pop(old, None) if old else None
    if dropped is not None:
        dropped.clear()
    return storage._users[new]


def register(panel: Panel) -> None:
    tickets = Tickets()
    # NiceGUI's app lives as long as the process; a panel started again (the supervisor
    # restarts a dead web server) must replace these routes, not queue behind the first ones,
    # whose closures hold the old panel's tickets (every sign-in would bounce back to /login).
    for path in ("/login/complete", "/logout"):
        app.remove_route(path)

    @app.get("/login/complete", include_in_schema=False)
    async def complete(request: Request, ticket: str = "") -> RedirectResponse:
        pair = tickets.redeem(ticket, request.session.get("id"))
        if pair is None:
            return RedirectResponse("/login", status_code=303)
        store = await rotate_session(request)
        store.update(access=pair.access_token, refresh=pair.refresh_token,
                     expires=pair.expires_at)
        return RedirectResponse("/", status_code=303)

    @app.get("/logout", include_in_schema=False)
    async def logout(request: Request) -> RedirectResponse:
        old = app.storage._users.get(str(request.session.get("id", "")))
        refresh = old.get("refresh") if old is not None else None
        if old is not None:
            for key in SESSION_KEYS:
                old.pop(key, None)
        if isinstance(refresh, str):
            await panel.auth.logout(refresh)
        await rotate_session(request)
        return RedirectResponse("/login", status_code=303)

    @ui.page("/login")
    async def login(request: Request) -> RedirectResponse | None:
        session = panel.session()
        if await session.principal() is not None:
            return RedirectResponse("/", status_code=303)
        ui.dark_mode(True)
        ui.page_title("Sign in · Prime Spark")
        ip = request.client.host if request.client else "unknown"
        session_id = str(request.session.get("id", ""))

        def finish(pair: TokenPair) -> None:
            ui.navigate.to(f"/login/complete?ticket={tickets.issue(pair, session_id)}")

        async def submit() -> None:
            error.text = ""
            button.props("loading")
            name, given = username.value or "", password.value or ""
            try:
                pair = await panel.auth.login(name, given, ip)
                if pair.principal.must_change:
                    await panel.auth.logout(pair.refresh_token)  # good for nothing else
                    show_change(pair.principal.user_id, given)
                    return
            except AuthError as exc:
                error.text = str(exc)
                password.value = ""
                return
            finally:
                button.props(remove="loading")
            finish(pair)

        def show_change(user_id: int, current: str) -> None:
            sign_in_form.set_visibility(False)
            change_form.set_visibility(True)

            async def change() -> None:
                change_error.text = ""
                if (new.value or "") != (repeat.value or ""):
                    change_error.text = "the two passwords differ"
                    return
                try:
                    pair = await panel.auth.change_password(user_id, current, new.value or "",
                                                            ip)
                except AuthError as exc:
                    change_error.text = str(exc)
                    return
                finish(pair)

            save.on_click(change)
            repeat.on("keydown.enter", change)

        with ui.column().classes("absolute-center items-stretch w-80 max-w-[92vw] gap-3"):
            ui.label("Prime Spark").classes("text-2xl font-semibold text-center")
            with ui.column().classes("items-stretch gap-3") as sign_in_form:
                username = ui.input("Username").props("autofocus outlined autocomplete=username")
                password = ui.input("Password", password=True, password_toggle_button=True
                                    ).props("outlined autocomplete=current-password")
                username.mark("username").props("data-testid=username")
                password.mark("password").props("data-testid=password")
                password.on("keydown.enter", submit)
                button = ui.button("Sign in", on_click=submit).mark("sign-in").props(
                    "data-testid=sign-in")
                error = ui.label("").classes("text-negative text-sm").mark("login-error")
            with ui.column().classes("items-stretch gap-3") as change_form:
                ui.label("Your password was generated: choose your own to continue.").classes(
                    "text-sm")
                new = ui.input("New password", password=True, password_toggle_button=True
                               ).props("outlined autocomplete=new-password data-testid=new")
                repeat = ui.input("Repeat it", password=True).props(
                    "outlined autocomplete=new-password data-testid=repeat")
                new.mark("new-password")
                repeat.mark("repeat-password")
                save = ui.button("Set password").mark("set-password").props(
                    "data-testid=set-password")
                change_error = ui.label("").classes("text-negative text-sm").mark(
                    "change-error")
            change_form.set_visibility(False)
        return None
