"""``/users`` (admins): create users, change roles, disable, reset passwords, sign out."""

from __future__ import annotations

from nicegui import ui
from starlette.responses import Response

from spark.ui.api.auth import AuthError
from spark.ui.api.store import ROLES, UserRow
from spark.ui.pages.frame import CARD, forbidden, frame, to_login
from spark.ui.panel import Panel
from spark.ui.timefmt import clock


def register(panel: Panel) -> None:
    auth = panel.auth

    @ui.page("/users")
    async def users() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()

        async def act(coro) -> bool:  # type: ignore[no-untyped-def]
            me = await session.principal()
            if me is None or not me.can("admin"):
                ui.notify("Only admins manage users", type="negative")
                coro.close()
                return False
            try:
                await coro
            except AuthError as exc:
                ui.notify(str(exc), type="negative")
                listing.refresh()
                return False
            listing.refresh()
            return True

        async def reset(user: UserRow) -> None:
            with ui.dialog() as dialog, ui.card():
                ui.label(f"New password for {user.username}")
                field = ui.input("Password", password=True)
                with ui.row():
                    ui.button("Cancel", on_click=dialog.close).props("flat")
                    ui.button("Set", on_click=lambda: dialog.submit(field.value))
            value = await dialog
            if value and await act(auth.update(user.id, password=value)):
                ui.notify(f"Password of {user.username} changed; their sessions ended")

        @ui.refreshable
        def listing() -> None:
            for user in auth.users():
                with ui.row().classes("items-center w-full gap-2 py-1 border-b border-white/10"
                                      ).mark(f"user:{user.username}"):
                    with ui.column().classes("gap-0 grow min-w-[8rem]"):
                        ui.label(user.username).classes("font-semibold")
                        ui.label(f"since {clock(user.created_at)}").classes("text-xs opacity-60")
                    ui.select(list(ROLES), value=user.role, on_change=lambda e, u=user: act(
                        auth.update(u.id, role=e.value))).props("dense").classes("w-28")
                    ui.switch("active", value=user.active, on_change=lambda e, u=user: act(
                        auth.update(u.id, active=e.value)))
                    ui.button(icon="key", on_click=lambda u=user: reset(u)).props(
                        "flat dense round").tooltip("Reset password")
                    ui.button(icon="logout", on_click=lambda u=user: act(
                        auth.revoke_sessions(u.id))).props("flat dense round").tooltip(
                        "Sign out everywhere")
                    ui.button(icon="delete", on_click=lambda u=user: act(auth.delete(u.id))
                              ).props("flat dense round color=negative").tooltip("Delete")

        async def create() -> None:
            if await act(auth.register(name.value or "", password.value or "", role.value)):
                ui.notify(f"User {name.value} created", type="positive")
                name.value = password.value = ""

        with frame(session, principal, "Users"):
            if not principal.can("admin"):
                forbidden("admin")
                return None
            with ui.card().classes(CARD):
                ui.label("Users").classes("font-semibold")
                listing()
            with ui.card().classes(CARD):
                ui.label("New user").classes("font-semibold")
                with ui.row().classes("w-full items-end gap-2"):
                    name = ui.input("Username").mark("new-username")
                    password = ui.input("Password", password=True).mark("new-password")
                    role = ui.select(list(ROLES), value="viewer", label="Role").classes(
                        "w-28").mark("new-role")
                    ui.button("Create", on_click=create).mark("create-user")
        return None
