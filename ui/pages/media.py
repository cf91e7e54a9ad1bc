"""``/cameras`` (image entities' latest snapshots) and ``/voice`` (the pipeline log)."""

from __future__ import annotations

from nicegui import ui
from starlette.responses import Response

from hub.events import AvailabilityChanged, HubEvent, StateChanged
from ui.feeds import PipelineLine
from ui.live import Live
from ui.pages.entities import entity_link
from ui.pages.entity import image_source
from ui.pages.frame import CARD, GRID, clock, frame, to_login
from ui.panel import Panel


def pipeline_row(line: PipelineLine) -> ui.row:
    detail = ", ".join(f"{k}={v}" for k, v in line.data.items())
    timing = " ".join(f"{k}={v:.0f}" for k, v in line.timings.items())
    with ui.row().classes("items-start gap-2 w-full no-wrap text-sm py-1 border-b "
                          "border-white/10") as row:
        ui.label(clock(line.time)).classes("font-mono text-xs opacity-70 shrink-0")
        ui.badge(line.type).classes("shrink-0")
        with ui.column().classes("gap-0 min-w-0"):
            ui.label(detail or "—").classes("break-all")
            ui.label(f"{line.node} · run {line.run} {timing}").classes("text-xs opacity-60")
    return row


def register(panel: Panel) -> None:
    view = panel.view

    @ui.page("/cameras")
    async def cameras() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        shown: dict[str, tuple[ui.image, ui.label]] = {}

        def show(entity_id: str) -> None:
            record = view.get(entity_id)
            if record is None or entity_id not in shown:
                return
            image, when = shown[entity_id]
            if record.image is not None:
                image.set_source(image_source(record))
            when.text = clock(record.last_updated) if record.last_updated else "—"

        with frame(session, principal, "Cameras"):
            records = [r for r in view.records() if r.platform == "image"]
            if not records:
                ui.label("No camera or snapshot entities yet.").classes("opacity-70")
            with ui.element("div").classes(GRID):
                for record in sorted(records, key=lambda r: r.entity_id):
                    with ui.card().classes(CARD):
                        ui.link(record.name or record.entity_id, entity_link(record))
                        image = ui.image(image_source(record) if record.image else "").classes(
                            "w-full rounded").mark(f"snapshot:{record.entity_id}")
                        with ui.row().classes("items-center w-full"):
                            when = ui.label("").classes("text-xs opacity-70 grow")
                            ui.button(icon="refresh", on_click=lambda e=record.entity_id: show(e)
                                      ).props("flat dense round")
                        shown[record.entity_id] = (image, when)
                        show(record.entity_id)

        def on_events(batch: list[HubEvent]) -> None:
            """A snapshot has no state of its own: refresh it when its device reports."""
            devices = set()
            for event in batch:
                record = view.get(getattr(event, "entity_id", ""))
                if record is not None:
                    devices.add(record.device_id)
            for entity_id in shown:
                record = view.get(entity_id)
                if record is not None and record.device_id in devices:
                    show(entity_id)

        Live(panel.hub.bus, (StateChanged, AvailabilityChanged), on_events)
        return None

    @ui.page("/voice")
    async def voice() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        with frame(session, principal, "Voice"):
            if not panel.voice.present:
                ui.label("No voice node on this hub.").classes("opacity-70")
                return None
            with ui.card().classes(CARD):
                ui.label("Voice pipeline").classes("font-semibold")
                box = ui.column().classes("w-full gap-0").mark("pipeline")
                with box:
                    for line in list(panel.voice.lines)[:100]:
                        pipeline_row(line)

        def add(line: PipelineLine) -> None:
            with box:
                pipeline_row(line).move(target_index=0)
            for extra in list(box.default_slot.children)[100:]:
                box.remove(extra)

        panel.voice.listeners.append(add)
        ui.context.client.on_delete(lambda: panel.voice.listeners.remove(add))
        return None
