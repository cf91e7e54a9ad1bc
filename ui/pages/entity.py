"""``/entity/<id>``: state, control, attributes and a history chart from the recorder."""

from __future__ import annotations

import base64
import re
import time

from nicegui import ui
from starlette.responses import Response

from spark.core.events import AvailabilityChanged, HubEvent, StateChanged
from spark.hub.entity import EntityRecord
from spark.hub.recorder import RecorderError, StatePoint
from spark.hub.recorder.models import describe
from spark.ui.attrs import data
from spark.ui.chart import chart_options
from spark.ui.controls import Board, controllable
from spark.ui.live import Live
from spark.ui.pages.frame import CARD, frame, to_login
from spark.ui.panel import Panel
from spark.ui.timefmt import humanize, when

RANGES = {"1 h": 3600, "6 h": 6 * 3600, "24 h": 86_400, "7 d": 7 * 86_400}


IMAGE_TYPE = re.compile(r"image/[a-z0-9.+-]{1,40}")


def image_source(record: EntityRecord) -> str:
    """A data URL of the entity's image; its content type (from the device's discovery) is
    used only when it is a plain ``image/<subtype>``."""
    kind = str(record.spec.raw.get("content_type") or "")
    kind = kind if IMAGE_TYPE.fullmatch(kind) else "image/jpeg"
    return f"data:{kind};base64,{base64.b64encode(record.image or b'').decode()}"


def history_note(points: list[StatePoint]) -> str:
    if not points:
        return "Nothing recorded in this range."
    last = points[-1]
    count = "1 recorded state" if len(points) == 1 else f"{len(points)} recorded states"
    return f"{count}; {last.state or 'unknown'} since {when(last.time)}"


def register(panel: Panel) -> None:
    view = panel.view

    @ui.page("/entity/{entity_id}")
    async def entity(entity_id: str) -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        record = view.get(entity_id)
        board = Board(session)
        with frame(session, principal, record.name or entity_id if record else entity_id):
            if record is None:
                ui.label(f"No entity {entity_id!r}.").classes("text-warning")
                return None
            dev = view.device(record.device_id)
            with ui.card().classes(CARD):
                with ui.row().classes("items-start w-full gap-x-3 gap-y-1"):
                    with ui.column().classes("gap-0 grow basis-40 min-w-0"):
                        ui.label(record.name or entity_id).classes(
                            "text-lg font-semibold break-words max-w-full")
                        data(ui.label(entity_id), "id-line", entity_id).classes(
                            "text-xs opacity-60 break-all")
                    board.label(record).classes("text-xl min-w-0 max-w-full ml-auto")
                if principal.can("operator") and controllable(record):
                    board.control(record)
                facts = [("Device", dev.name if dev and dev.name else "—"),
                         ("Area", dev.suggested_area if dev and dev.suggested_area else "—"),
                         ("Node", view.node_of(record) or "—"), ("Platform", record.platform)]
                with ui.grid(columns="auto minmax(0, 1fr)").classes("gap-x-4 text-sm w-full"):
                    for title, text in facts:
                        ui.label(title).classes("opacity-70")
                        ui.label(text).classes("break-words min-w-0")
                    ui.label("Last changed").classes("opacity-70")
                    changed = ui.label(when(record.last_changed) if record.last_changed
                                       else "—")
                if record.attributes:
                    with ui.expansion("Attributes").classes("w-full text-sm"):
                        for key, value in sorted(record.attributes.items()):
                            ui.label(f"{key}: {humanize(value)}").classes(
                                "font-mono text-xs break-all")
            image = None
            if record.platform == "image":
                image = ui.image(image_source(record)).classes(
                    "w-full max-w-xl rounded").props("fit=contain no-spinner")
            meta = describe(record, dev.name if dev else None)
            numeric = bool(meta and meta.numeric)
            points: list[StatePoint] = []

            def draw() -> dict:
                now = time.time()
                return chart_options(numeric, points, record.spec.unit_of_measurement,
                                     now - RANGES[str(span.value)], now)

            def redraw() -> None:
                chart.options.clear()
                chart.options.update(draw())
                chart.update()
            with ui.card().classes(CARD):
                with ui.row().classes("items-center w-full"):
                    ui.label("History").classes("font-semibold grow")
                    span = ui.toggle(list(RANGES), value="24 h").props("dense")
                chart = ui.echart(draw()).classes("w-full h-64").mark("history")
                chart.props["data-chart"] = "history"
                note = ui.label("").classes("text-xs opacity-70 break-all max-w-full")

        async def load() -> None:
            recorder = panel.hub.recorder
            if recorder is None:
                note.text = "History is off (recorder.enabled: false)."
                return
            start = time.time() - RANGES[str(span.value)]
            try:
                rows = await recorder.history(entity_id, start, initial=True, limit=5000)
            except RecorderError as exc:
                note.text = f"History unavailable: {exc}"
                return
            points[:] = [p for p in rows if isinstance(p, StatePoint)]
            redraw()
            note.text = history_note(points)

        span.on_value_change(load)
        await load()

        def on_events(batch: list[HubEvent]) -> None:
            board.update(entity_id)
            current = view.get(entity_id)
            if current is None:
                return
            changed.text = when(current.last_changed) if current.last_changed else "—"
            if image is not None:
                image.set_source(image_source(current))
            for event in batch:
                if isinstance(event, StateChanged) and event.new_state is not None:
                    points.append(StatePoint(event.time, event.new_state,
                                             _number(event.new_state)))
            redraw()

        def mine(batch: list[HubEvent]) -> None:
            events = [e for e in batch if getattr(e, "entity_id", None) == entity_id]
            if events:
                on_events(events)

        Live(panel.hub.bus, (StateChanged, AvailabilityChanged), mine)
        return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
