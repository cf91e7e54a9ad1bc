"""``/login``: username and password; the same accounts, roles and rate limit as the API."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from hub.api.auth import AuthError
from ui.panel import Panel


def register(panel: Panel) -> None:
    @ui.page("/login")
    async def login(request: Request) -> RedirectResponse | None:
        session = panel.session()
        if await session.principal() is not None:
            return RedirectResponse("/", status_code=303)
        ui.dark_mode(True)
        ui.page_title("Sign in · Prime Spark")
        ip = request.client.host if request.client else "unknown"

        async def submit() -> None:
            error.text = ""
            button.props("loading")
            try:
                await session.sign_in(username.value or "", password.value or "", ip)
            except AuthError as exc:
                error.text = str(exc)
                password.value = ""
                return
            finally:
                button.props(remove="loading")
            ui.navigate.to("/")

        with ui.column().classes("absolute-center items-stretch w-80 max-w-[92vw] gap-3"):
            ui.label("Prime Spark").classes("text-2xl font-semibold text-center")
            username = ui.input("Username").props("autofocus outlined autocomplete=username")
            password = ui.input("Password", password=True, password_toggle_button=True).props(
                "outlined autocomplete=current-password")
            username.mark("username").props("data-testid=username")
            password.mark("password").props("data-testid=password")
            password.on("keydown.enter", submit)
            button = ui.button("Sign in", on_click=submit).mark("sign-in").props(
                "data-testid=sign-in")
            error = ui.label("").classes("text-negative text-sm").mark("login-error")
        return None
