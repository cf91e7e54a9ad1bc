"""``/power``: each power node's card, its mode and every one of its entities."""

from __future__ import annotations

from nicegui import ui
from starlette.responses import Response

from spark.core.events import AvailabilityChanged, HubEvent, StateChanged
from spark.ui.controls import Board, controllable
from spark.ui.live import Live
from spark.ui.pages.cards import power_card, power_nodes
from spark.ui.pages.entities import entity_link
from spark.ui.pages.frame import CARD, frame, to_login
from spark.ui.panel import Panel


def register(panel: Panel) -> None:
    view = panel.view

    @ui.page("/power")
    async def power() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        board = Board(session)
        with frame(session, principal, "Power"):
            found = power_nodes(panel)
            if not found:
                ui.label("No power node has reported yet.").classes("opacity-70")
            for node, entities in found.items():
                power_card(board, principal, node, entities)
                shown = {r.entity_id for r in entities.values()}
                with ui.card().classes(CARD):
                    ui.label(f"All of {node}").classes("font-semibold")
                    for record in sorted(view.records(), key=lambda r: r.entity_id):
                        if view.node_of(record) != node:
                            continue
                        with ui.row().classes("items-center w-full no-wrap gap-2"):
                            ui.link(record.name or record.entity_id, entity_link(record)
                                    ).classes("grow truncate")
                            if (principal.can("operator") and controllable(record)
                                    and record.entity_id not in shown):
                                board.control(record)
                            board.label(record)

        def on_events(batch: list[HubEvent]) -> None:
            for entity_id in dict.fromkeys(getattr(e, "entity_id", "") for e in batch):
                if board.watches(entity_id):
                    board.update(entity_id)

        Live(panel.hub.bus, (StateChanged, AvailabilityChanged), on_events)
        return None
