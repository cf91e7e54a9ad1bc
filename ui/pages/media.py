"""``/cameras`` (image entities' latest snapshots) and ``/voice`` (the pipeline log)."""

from __future__ import annotations

from nicegui import ui
from starlette.responses import Response

from spark.core.events import AvailabilityChanged, HubEvent, StateChanged
from spark.ui.attrs import data
from spark.ui.feeds import PipelineLine
from spark.ui.live import Live
from spark.ui.pages.entities import entity_link
from spark.ui.pages.entity import image_source
from spark.ui.pages.frame import CARD, GRID, frame, to_login
from spark.ui.panel import Panel
from spark.ui.timefmt import clock
from spark.ui.timefmt import when as when_text
from spark.ui.voicelog import COLOURS, TITLES, details, headline


def pipeline_row(line: PipelineLine) -> ui.row:
    with ui.row().classes("items-start gap-2 w-full no-wrap text-sm py-1 border-b "
                          "border-white/10") as row:
        ui.label(clock(line.time)).classes("font-mono text-xs opacity-70 shrink-0 pt-0.5")
        with ui.column().classes("gap-0 min-w-0 grow"):
            with ui.row().classes("items-center gap-2 no-wrap min-w-0 w-full"):
                ui.badge(TITLES.get(line.type, line.type),
                         color=COLOURS.get(line.type, "primary")).classes("shrink-0")
                ui.label(headline(line)).classes("break-words min-w-0")
            for text in details(line):
                ui.label(text).classes("text-xs opacity-70 break-words max-w-full")
            ui.label(f"{line.node} · run {line.run}").classes("text-xs opacity-50")
    return row


def voice_hint() -> ui.label:
    return ui.label("Nothing heard yet. Say the wake word, then a command, for example "
                    "“hey spark, turn on the lamp”: each step of the pipeline (wake word, "
                    "what was heard, what it understood, the answer) appears here as it "
                    "happens."
                    ).classes("text-sm opacity-70").mark("voice-hint")


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
            # no picture: none yet, or dropped for the hub's picture budget (hub.max_picture_bytes)
            missing = record.image is None and bool(record.spec.raw.get("image_topic"))
            image.set_source("" if record.image is None else image_source(record))
            when.text = (f"updated {when_text(record.last_updated)}"
                         if record.last_updated and not missing else "no snapshot yet")

        with frame(session, principal, "Cameras"):
            records = [r for r in view.records() if r.platform == "image"]
            if not records:
                ui.label("No camera or snapshot entities yet.").classes("opacity-70")
            with ui.element("div").classes(GRID):
                for record in sorted(records, key=lambda r: r.entity_id):
                    with ui.card().classes(CARD):
                        ui.link(record.name or record.entity_id, entity_link(record)).classes(
                            "truncate max-w-full")
                        image = data(ui.image(image_source(record) if record.image else "")
                                     .classes("w-full rounded bg-black/20").props(
                                         "ratio=1.333 fit=contain no-spinner")
                                     .mark(f"snapshot:{record.entity_id}"),
                                     "snapshot", record.entity_id)
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
                box = data(ui.column().classes("w-full gap-0").mark("pipeline"), "pipeline",
                           "voice")
                lines = list(panel.voice.lines)[:100]
                with box:
                    hint = [] if lines else [voice_hint()]
                    for line in lines:
                        pipeline_row(line)

        def add(line: PipelineLine) -> None:
            while hint:  # the first line replaces the hint
                box.remove(hint.pop())
            with box:
                pipeline_row(line).move(target_index=0)
            for extra in list(box.default_slot.children)[100:]:
                box.remove(extra)

        panel.voice.listeners.append(add)
        ui.context.client.on_delete(lambda: panel.voice.listeners.remove(add))
        return None
