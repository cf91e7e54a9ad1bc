"""``/login``: username and password; the same accounts, roles and rate limit as the API.

A user with a generated password (the first admin, ``spark user add|reset-password``) is led
from here to a change-password form: their tokens are good for nothing else until then, so
the session keeps only the pair issued for the new password.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from spark.ui.api.auth import AuthError
from spark.ui.panel import Panel


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
            name, given = username.value or "", password.value or ""
            try:
                principal = await session.sign_in(name, given, ip)
                if principal.must_change:
                    await session.sign_out()  # that session is good for nothing else
                    show_change(principal.user_id, given)
                    return
            except AuthError as exc:
                error.text = str(exc)
                password.value = ""
                return
            finally:
                button.props(remove="loading")
            ui.navigate.to("/")

        def show_change(user_id: int, current: str) -> None:
            sign_in_form.set_visibility(False)
            change_form.set_visibility(True)

            async def change() -> None:
                change_error.text = ""
                if (new.value or "") != (repeat.value or ""):
                    change_error.text = "the two passwords differ"
                    return
                try:
                    await panel.auth.change_password(user_id, current, new.value or "", ip)
                    await session.sign_in(username.value or "", new.value or "", ip)
                except AuthError as exc:
                    change_error.text = str(exc)
                    return
                ui.navigate.to("/")

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
