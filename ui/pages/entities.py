"""``/entities``: devices and entities with live state and controls, filtered by area, device
or search text; a page of them at a time."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from nicegui import ui
from starlette.responses import Response

from spark.core.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityRemoved,
    HubEvent,
    StateChanged,
)
from spark.hub.entity import EntityRecord
from spark.ui.attrs import data
from spark.ui.controls import Board, controllable
from spark.ui.live import Live
from spark.ui.pages.frame import frame, to_login
from spark.ui.panel import Panel

ALL = ""
TYPES = (StateChanged, AvailabilityChanged, EntityAdded, EntityRemoved)


def entity_link(record: EntityRecord) -> str:
    return f"/entity/{quote(record.entity_id)}"


def register(panel: Panel) -> None:
    view = panel.view

    @ui.page("/entities")
    async def entities(area: str = ALL, device: str = ALL, q: str = "") -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        can_control = principal.can("operator")
        board = Board(session)
        state: dict[str, Any] = {"area": area, "device": device, "q": q,
                                 "limit": panel.config.page_size}

        def row(record: EntityRecord) -> None:
            dev = view.device(record.device_id)
            with data(ui.row(), "row", record.entity_id).classes(
                    "items-center w-full gap-x-2 gap-y-1 py-1 border-b border-white/10"):
                with ui.column().classes("gap-0 grow basis-48 min-w-0"):
                    ui.link(record.name or record.entity_id, entity_link(record)).classes(
                        "truncate max-w-full")
                    data(ui.label(f"{record.entity_id} · {dev.name if dev else 'no device'}"),
                         "id-line", record.entity_id).classes("text-xs opacity-60 truncate "
                                                              "max-w-full")
                # wraps: a cover's buttons and slider leave its state whole on a phone (the
                # state goes under them), a long hostile state is cut at the row's width
                with ui.row().classes("items-center justify-end gap-2 ml-auto max-w-full "
                                      "min-w-0"):
                    if can_control and controllable(record):
                        board.control(record)
                    board.label(record).classes("shrink-0 max-w-full truncate")

        @ui.refreshable
        def listing() -> None:
            board.clear()
            found = view.entities(area=state["area"] or None, device_id=state["device"] or None,
                                  q=state["q"] or None)
            ui.label(f"{len(found)} entities").classes("text-xs opacity-70").mark("count")
            with ui.column().classes("w-full gap-0"):
                for record in found[: state["limit"]]:
                    row(record)
            if len(found) > state["limit"]:
                ui.button(f"Show more ({len(found) - state['limit']} left)",
                          on_click=more).props("flat")

        def more() -> None:
            state["limit"] += panel.config.page_size
            listing.refresh()

        def set_filter(key: str, value: str | None) -> None:
            state[key] = value or ALL
            state["limit"] = panel.config.page_size
            listing.refresh()

        with frame(session, principal, "Devices & entities"):
            with ui.row().classes("w-full gap-2 items-end"):
                areas = {ALL: "All areas", **{a: a for a in view.areas()}}
                devices = {ALL: "All devices",
                           **{d.id: d.name or d.id for d in view.devices()}}
                ui.select(areas, value=state["area"] if state["area"] in areas else ALL,
                          label="Area", on_change=lambda e: set_filter("area", e.value)
                          ).classes("min-w-[9rem]").mark("area-filter")
                ui.select(devices, value=state["device"] if state["device"] in devices else ALL,
                          label="Device", on_change=lambda e: set_filter("device", e.value)
                          ).classes("min-w-[12rem]").mark("device-filter")
                ui.input("Search", value=state["q"],
                         on_change=lambda e: set_filter("q", e.value)).props(
                    "clearable debounce=300").classes("grow min-w-[10rem]").mark("search")
            listing()

        def on_events(batch: list[HubEvent]) -> None:
            if any(isinstance(e, (EntityAdded, EntityRemoved)) for e in batch):
                listing.refresh()
                return
            for entity_id in dict.fromkeys(getattr(e, "entity_id", "") for e in batch):
                if board.watches(entity_id):
                    board.update(entity_id)

        Live(panel.hub.bus, TYPES, on_events)
        return None
