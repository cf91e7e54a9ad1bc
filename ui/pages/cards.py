"""Cards shared by the dashboard and the power page: a node, the power card, the cloud link."""

from __future__ import annotations

from nicegui import ui

from spark.hub.entity import EntityRecord
from spark.ui.api.auth import Principal
from spark.ui.api.view import BridgeInfo, NodeInfo
from spark.ui.attrs import data
from spark.ui.controls import Board, state_text
from spark.ui.pages.frame import CARD
from spark.ui.panel import Panel

POWER_KEYS = ("battery", "charging", "power_source", "power_mode", "strategy", "time_to_empty",
              "power_draw", "grid")


def node_card(node: NodeInfo) -> None:
    online = node.online
    color = "positive" if online else ("grey" if online is None else "negative")
    text = "online" if online else ("never seen" if online is None else "offline")
    with data(ui.card().classes(CARD), "node", node.id):
        with ui.row().classes("items-center w-full no-wrap gap-2"):
            ui.icon("memory" if node.model else "device_hub").classes("text-xl")
            with ui.column().classes("gap-0 grow min-w-0"):
                ui.label(node.name).classes("font-semibold truncate")
                ui.label(node.model or node.id).classes("text-xs opacity-70 truncate")
            data(ui.badge(text, color=color).mark(f"node:{node.id}"), "availability", node.id)
        detail = f"{node.entities} entities"
        if node.unavailable and online:
            detail += f", {node.unavailable} unavailable"
        ui.label(detail).classes("text-xs opacity-70")


def power_nodes(panel: Panel) -> dict[str, dict[str, EntityRecord]]:
    """Power nodes and their entities by key (``battery``, ``power_mode``...)."""
    view = panel.view
    out: dict[str, dict[str, EntityRecord]] = {}
    for node in view.nodes():
        found = {k: r for k in POWER_KEYS if (r := view.entity_of(node.id, k)) is not None}
        if "battery" in found or "power_mode" in found:
            out[node.id] = found
    return out


def power_card(board: Board, principal: Principal, node: str,
               entities: dict[str, EntityRecord]) -> None:
    def value(key: str) -> str:
        record = entities.get(key)
        return state_text(record) if record is not None else "—"

    battery = entities.get("battery")
    with data(ui.card().classes(CARD), "power", node):
        with ui.row().classes("items-center w-full no-wrap"):
            ui.icon("battery_charging_full" if value("charging") == "on" else "battery_std"
                    ).classes("text-2xl")
            ui.label(f"Power · {node}").classes("font-semibold grow")
            if battery is not None:
                board.label(battery).classes("text-2xl")
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-1 text-sm"):
            for key, title in (("power_source", "Source"), ("strategy", "Strategy"),
                               ("time_to_empty", "Time to empty"), ("power_draw", "Draw")):
                if key in entities:
                    ui.label(title).classes("opacity-70")
                    board.label(entities[key])
        mode = entities.get("power_mode")
        if mode is not None:
            with ui.row().classes("items-center w-full"):
                ui.label("Mode").classes("opacity-70 grow")
                if principal.can("operator") and mode.available:
                    board.control(mode)
                else:
                    board.label(mode)


def bridge_card(bridges: list[BridgeInfo]) -> None:
    with ui.card().classes(CARD):
        with ui.row().classes("items-center"):
            ui.icon("cloud_sync").classes("text-xl")
            ui.label("Cloud link").classes("font-semibold")
        for bridge in bridges:
            link = bridge.link if bridge.online else "offline"
            color = {"up": "positive", "idle": "positive", "connecting": "warning",
                     "backoff": "warning"}.get(link or "", "negative")
            with ui.row().classes("items-center w-full text-sm"):
                ui.label(bridge.sink).classes("grow")
                ui.badge(link or "unknown", color=color).mark(f"link:{bridge.sink}")
            backlog = "—" if bridge.backlog is None else f"{bridge.backlog:g} waiting"
            age = "" if not bridge.oldest_age else f", oldest {bridge.oldest_age:.0f} s"
            ui.label(f"outbox: {backlog}{age}").classes("text-xs opacity-70").mark(
                f"backlog:{bridge.sink}")
