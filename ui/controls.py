"""Entity state and controls: switch, select, number and button, each showing *pending*
until the device confirms the new state and an error when it does not in time."""

from __future__ import annotations

import logging
from typing import Any

from nicegui import background_tasks, ui

from spark.hub.entity import EntityRecord
from spark.hub.services import ServiceError
from spark.ui.attrs import data
from spark.ui.panel import Session
from spark.ui.timefmt import humanize, parse_time, when

log = logging.getLogger(__name__)
ON_OFF = frozenset({"switch", "light", "fan", "siren", "humidifier"})
CONTROLLED = ON_OFF | {"select", "number", "button"}


def state_text(record: EntityRecord) -> str:
    if not record.available:
        return "unavailable"
    if record.platform == "image":
        return "snapshot" if record.image is not None else "no snapshot yet"
    if record.state is None:
        return "unknown"
    if record.platform == "event":  # the state is the time of the last event
        fired = _float(record.state)
        kind = (record.attributes or {}).get("event_type")
        text = when(fired) if fired is not None else record.state
        return f"{kind} · {text}" if kind else text
    if parse_time(record.state) is not None:  # a timestamp sensor's ISO text
        return humanize(record.state)
    unit = record.spec.unit_of_measurement
    return f"{record.state} {unit}" if unit else record.state


def state_label(record: EntityRecord) -> ui.label:
    """The live state text, findable by tests (marker / data-entity)."""
    label = ui.label(state_text(record)).classes("font-mono text-right break-all")
    return data(label.mark(f"state:{record.entity_id}"), "entity", record.entity_id)


def controllable(record: EntityRecord) -> bool:
    return record.platform in CONTROLLED and bool(record.spec.command_topic)


class Control:
    """One entity's control; call :meth:`sync` when the hub reports a new state."""

    def __init__(self, session: Session, record: EntityRecord) -> None:
        self.session = session
        self.record = record
        self.entity_id = record.entity_id
        self._syncing = False
        self.pending = False
        platform = record.platform
        spec = record.spec
        with ui.row().classes("items-center gap-2 no-wrap") as self.row:
            self.widget: Any
            if platform in ON_OFF:
                self.widget = ui.switch(value=record.state == "on",
                                        on_change=lambda e: self._changed(e.value))
            elif platform == "select":
                self.widget = ui.select(list(spec.options or []), value=record.state,
                                        on_change=lambda e: self._changed(e.value)
                                        ).classes("min-w-[8rem]").props("dense")
            elif platform == "number":
                self.widget = ui.number(value=_float(record.state), min=spec.min, max=spec.max,
                                        step=spec.step or 1,
                                        on_change=lambda e: self._changed(e.value))
                self.widget.props("dense debounce=700").classes("w-28")
                if spec.unit_of_measurement:
                    self.widget.props["suffix"] = spec.unit_of_measurement
            else:
                self.widget = ui.button("Press", on_click=lambda: self._changed(None)).props(
                    "dense unelevated")
            data(self.widget.mark(f"control:{self.entity_id}"), "control", self.entity_id)
            self.spinner = ui.spinner(size="1.2em").mark(f"pending:{self.entity_id}")
            self.spinner.visible = False
            self.error = ui.label("").classes("text-negative text-xs max-w-[14rem]").mark(
                f"error:{self.entity_id}")
            self.error.visible = False
        self.sync()

    def _service(self, value: Any) -> tuple[str, dict[str, Any]]:
        platform = self.record.platform
        if platform in ON_OFF:
            return ("turn_on" if value else "turn_off"), {}
        if platform == "select":
            return "select_option", {"option": value}
        if platform == "number":
            return "set_value", {"value": value}
        return "press", {}

    def _changed(self, value: Any) -> None:
        if self._syncing or (value is None and self.record.platform != "button"):
            return
        service, data = self._service(value)
        self._set_pending(True)
        self.error.visible = False
        background_tasks.create(self._call(service, data), name=f"control-{self.entity_id}")

    async def _call(self, service: str, data: dict[str, Any]) -> None:
        try:
            await self.session.call(service, self.entity_id, data)
        except ServiceError as exc:
            self._show_error(str(exc))
        except Exception:
            log.exception("panel: %s on %s failed", service, self.entity_id)
            self._show_error(f"{service} failed; see the hub's log")
        finally:
            self._set_pending(False)
            self.sync()

    def _show_error(self, text: str) -> None:
        self.error.text = text
        self.error.visible = True
        with self.row:
            ui.notify(text, type="negative", position="top")

    def _set_pending(self, pending: bool) -> None:
        self.pending = pending
        self.spinner.visible = pending
        self.widget.enabled = not pending and self.record.available

    def sync(self) -> None:
        """Show the hub's current state (the device's confirmed one) unless a call waits."""
        if self.pending:
            return
        record = self.record
        self._syncing = True
        try:
            if record.platform in ON_OFF:
                self.widget.value = record.state == "on"
            elif record.platform == "select":
                self.widget.value = record.state if record.state in (
                    record.spec.options or []) else None
            elif record.platform == "number":
                self.widget.value = _float(record.state)
            self.widget.enabled = record.available
        finally:
            self._syncing = False


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Board:
    """A page's live state labels and controls, by entity: :meth:`update` re-reads the hub."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.panel = session.panel
        self.labels: dict[str, list[ui.label]] = {}
        self.controls: dict[str, Control] = {}

    def label(self, record: EntityRecord) -> ui.label:
        label = state_label(record)
        self.labels.setdefault(record.entity_id, []).append(label)
        return label

    def control(self, record: EntityRecord) -> Control:
        control = self.controls[record.entity_id] = Control(self.session, record)
        return control

    def watches(self, entity_id: str) -> bool:
        return entity_id in self.labels or entity_id in self.controls

    def update(self, entity_id: str) -> None:
        record = self.panel.view.get(entity_id)
        if record is None:
            return
        for label in self.labels.get(entity_id, []):
            label.text = state_text(record)
        control = self.controls.get(entity_id)
        if control is not None:
            control.record = record
            control.sync()

    def clear(self) -> None:
        self.labels.clear()
        self.controls.clear()
