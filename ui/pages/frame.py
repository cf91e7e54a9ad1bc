"""The frame every signed-in page shares: header, navigation drawer, dark mode, phone layout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.responses import RedirectResponse
from nicegui import ui

from spark.ui.api.auth import Principal
from spark.ui.attrs import data
from spark.ui.panel import Panel, Session

CARD = "w-full p-3"
GRID = "grid grid-cols-1 sm:grid-cols-2 lg:grid-cols-3 gap-3 w-full"


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def nav_items(panel: Panel, principal: Principal) -> list[tuple[str, str, str]]:
    items = [("Dashboard", "/", "dashboard"), ("Devices & entities", "/entities", "devices"),
             ("Cameras", "/cameras", "photo_camera"), ("Power", "/power", "bolt")]
    if panel.voice.present:
        items.append(("Voice", "/voice", "record_voice_over"))
    if panel.hub.llm is not None:
        items += [("Assistant", "/assistant", "smart_toy"),
                  ("LLM routing", "/routing", "alt_route")]
    if principal.can("admin"):
        items.append(("Users", "/users", "group"))
    return items


@contextmanager
def frame(session: Session, principal: Principal, title: str) -> Iterator[None]:
    ui.dark_mode(True)
    ui.page_title(f"{title} · Prime Spark")

    def sign_out() -> None:
        ui.navigate.to("/logout")  # an HTTP route: ends the tokens, rotates the session id

    # Open on wide screens, closed on phones: Quasar's show-if-above decides in the browser.
    # (value=None would make NiceGUI ask the browser for the state with a 1 s timeout: on a
    # busy machine that logged a traceback on every page load.)
    drawer = ui.left_drawer(value=False).props("show-if-above breakpoint=900 bordered width=220")
    with drawer:
        for label, path, icon in nav_items(session.panel, principal):
            with ui.link(target=path).classes("no-underline text-inherit w-full"):
                with ui.row().classes("items-center gap-3 px-2 py-2 rounded hover:bg-white/10"):
                    ui.icon(icon)
                    ui.label(label)
        ui.link("API docs", "/api/docs", new_tab=True).classes("px-2 pt-4 text-xs opacity-70")
    with ui.header().classes("items-center gap-2 px-3 py-2 no-wrap"):
        ui.button(icon="menu", on_click=drawer.toggle).props("flat dense round color=white")
        ui.label("Prime Spark").classes("text-lg font-semibold max-sm:hidden")
        ui.label(title).classes("text-lg truncate")
        ui.space()
        ui.label(f"{principal.username} · {principal.role}").classes(
            "text-sm opacity-80 max-sm:hidden").mark("whoami")
        ui.button(icon="logout", on_click=sign_out).props(
            "flat dense round color=white").tooltip("Sign out").mark("sign-out")
    with data(ui.column().classes("w-full max-w-6xl mx-auto p-2 sm:p-4 gap-4"), "page", title):
        yield


def forbidden(role: str) -> None:
    with ui.card().classes(CARD):
        ui.label(f"This page needs the {role} role.").classes("text-warning")
