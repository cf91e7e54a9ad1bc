"""``/``: every node with its availability, the power card, the cloud link and outbox backlog,
and recent events; all kept live from the hub's event stream."""

from __future__ import annotations

from nicegui import ui
from starlette.responses import Response

from spark.core.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityRemoved,
    HubEvent,
    NodeAvailability,
    StateChanged,
)
from spark.ui.attrs import data
from spark.ui.controls import Board
from spark.ui.feeds import FEED_TYPES, EventLine
from spark.ui.live import Live
from spark.ui.pages.cards import bridge_card, node_card, power_card, power_nodes
from spark.ui.pages.frame import CARD, GRID, frame, to_login
from spark.ui.panel import Panel
from spark.ui.timefmt import clock

SHOWN_EVENTS = 20
TYPES = (StateChanged, AvailabilityChanged, NodeAvailability, EntityAdded, EntityRemoved,
         *FEED_TYPES)


def event_row(line: EventLine) -> ui.row:
    with ui.row().classes("items-center gap-2 w-full no-wrap text-sm") as row:
        ui.label(clock(line.time)).classes("font-mono text-xs opacity-70 shrink-0")
        ui.icon(line.icon).classes("opacity-80 shrink-0")
        ui.label(line.text).classes("truncate min-w-0")
        if line.count > 1:
            ui.badge(f"×{line.count}", color="grey-8").classes("shrink-0").tooltip(
                f"{line.count} times since {clock(line.first)}")
    return row


def register(panel: Panel) -> None:
    view = panel.view

    @ui.page("/")
    async def dashboard() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        board = Board(session)
        bridge_ids: set[str] = set()

        @ui.refreshable
        def nodes() -> None:
            with ui.element("div").classes(GRID):
                for node in view.nodes():
                    node_card(node)

        @ui.refreshable
        def power() -> None:
            board.clear()
            found = power_nodes(panel)
            if not found:
                return
            with ui.element("div").classes(GRID):
                for node, entities in found.items():
                    power_card(board, principal, node, entities)

        @ui.refreshable
        def events() -> None:
            lines = list(panel.recent.lines)[:SHOWN_EVENTS]
            with data(ui.column().classes("w-full gap-1").mark("events"), "events", len(lines)):
                if not lines:
                    ui.label("Nothing yet: node and device events appear here.").classes(
                        "text-sm opacity-70")
                for line in lines:
                    event_row(line)

        @ui.refreshable
        def cloud() -> None:
            bridges = view.bridges()
            bridge_ids.clear()
            bridge_node = view.site.bridge_node
            bridge_ids.update(r.entity_id for r in view.records()
                              if view.node_of(r) == bridge_node)
            if bridges:
                bridge_card(bridges)

        with frame(session, principal, "Dashboard"):
            ui.label("Nodes").classes("text-sm uppercase opacity-70")
            nodes()
            power()
            cloud()
            with ui.card().classes(CARD):
                ui.label("Recent events").classes("font-semibold")
                events()

        def on_events(batch: list[HubEvent]) -> None:
            redraw_nodes = redraw_power = redraw_cloud = redraw_events = False
            for event in batch:
                if isinstance(event, (NodeAvailability, EntityAdded, EntityRemoved)):
                    redraw_nodes = redraw_power = redraw_cloud = True
                elif isinstance(event, AvailabilityChanged):
                    redraw_nodes = True
                    board.update(event.entity_id)
                    redraw_cloud |= event.entity_id in bridge_ids
                elif isinstance(event, StateChanged):
                    board.update(event.entity_id)
                    redraw_cloud |= event.entity_id in bridge_ids
                redraw_events |= isinstance(event, FEED_TYPES)
            if redraw_events:  # the panel's ring already took them (coalesced)
                events.refresh()
            if redraw_nodes:
                nodes.refresh()
            if redraw_power:
                power.refresh()
            if redraw_cloud:
                cloud.refresh()

        Live(panel.hub.bus, TYPES, on_events)
        return None
