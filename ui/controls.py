"""Entity state and controls, each showing *pending* until the device confirms the new state and
an error when it does not in time.

Which control an entity gets is its platform's data (``core/platforms/``: ``Control.kind`` and
the services it calls); this module only maps each kind to a NiceGUI widget (``WIDGETS``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nicegui import background_tasks, ui

from spark.core.errors import ServiceError
from spark.core.platforms import Control as ControlSpec
from spark.core.platforms import ControlKind, platform_for
from spark.hub.entity import EntityRecord
from spark.ui.attrs import data
from spark.ui.panel import Session
from spark.ui.timefmt import humanize, parse_time, when

log = logging.getLogger(__name__)


def state_text(record: EntityRecord) -> str:
    if not record.available:
        return "unavailable"
    display = platform_for(record.platform).display
    if display == "image":
        return "snapshot" if record.image is not None else "no snapshot yet"
    if record.state is None:
        return "unknown"
    if display == "event":  # the state is the time of the last event
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


def control_spec(record: EntityRecord) -> ControlSpec | None:
    return platform_for(record.platform).control


def controllable(record: EntityRecord) -> bool:
    return control_spec(record) is not None and bool(record.spec.command_topic)


Changed = Callable[[Any], None]


def _toggle(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return ui.switch(value=record.state == spec.on_state, on_change=lambda e: changed(e.value))


def _select(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return ui.select(list(record.spec.options or []), value=record.state,
                     on_change=lambda e: changed(e.value)).classes("min-w-[8rem]").props("dense")


def _number(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    entity = record.spec
    widget = ui.number(value=_float(record.state), min=entity.min, max=entity.max,
                       step=entity.step or 1, on_change=lambda e: changed(e.value))
    widget.props("dense debounce=700").classes("w-28")
    if entity.unit_of_measurement:
        widget.props["suffix"] = entity.unit_of_measurement
    return widget


def _button(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return ui.button("Press", on_click=lambda: changed(None)).props("dense unelevated")


# An alarm panel's actions as the keypad shows them (our own labels; trigger is left out).
ALARM_BUTTONS = (("alarm_disarm", None, "Disarm"), ("alarm_arm_home", "arm_home", "Home"),
                 ("alarm_arm_away", "arm_away", "Away"), ("alarm_arm_night", "arm_night", "Night"),
                 ("alarm_arm_vacation", "arm_vacation", "Vacation"),
                 ("alarm_arm_custom_bypass", "arm_custom_bypass", "Bypass"))


class Keypad(ui.row):
    """An alarm panel's control: a code field (a password field, cleared after each use, never
    logged or shown back) when the config has a code, and a button per supported action."""

    def __init__(self, record: EntityRecord, changed: Changed) -> None:
        super().__init__(wrap=True)
        self.classes("items-center gap-1")
        self._changed = changed
        features = getattr(record.spec, "supported_features", ())
        with self:
            self.code: Any = None
            if getattr(record.spec, "code", None) is not None:
                self.code = ui.input(label="Code", password=True).props(
                    "dense autocomplete=off").classes("w-24").mark(
                    f"control:{record.entity_id}:code")
            self.buttons = [
                ui.button(label, on_click=lambda _e=None, s=service: self._press(s)).props(
                    "dense unelevated no-caps").mark(f"control:{record.entity_id}:{service}")
                for service, feature, label in ALARM_BUTTONS
                if feature is None or feature in features]

    def _press(self, service: str) -> None:
        code = None
        if self.code is not None:
            code, self.code.value = self.code.value or None, ""
        self._changed((service, code))

    @property
    def value(self) -> Any:
        return None

    @value.setter
    def value(self, _: Any) -> None:  # the state is shown by the label beside it
        pass

    @property
    def enabled(self) -> bool:
        return all(b.enabled for b in self.buttons)

    @enabled.setter
    def enabled(self, on: bool) -> None:
        for widget in (*self.buttons, *([self.code] if self.code is not None else [])):
            widget.enabled = on


def _alarm(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return Keypad(record, changed)


def _text(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    """A text field, sent with Enter; a ``password`` mode text is never shown back."""
    secret = record.spec.mode == "password"
    widget = ui.input(value=_text_value(record), password=secret).props("dense").classes("w-40")
    widget.on("keydown.enter", lambda: changed(widget.value))
    return widget


def _text_value(record: EntityRecord) -> str:
    return "" if record.spec.mode == "password" or record.state is None else record.state


# Control kind -> the widget drawing it.
WIDGETS: dict[ControlKind, Callable[[ControlSpec, EntityRecord, Changed], Any]] = {
    "toggle": _toggle, "select": _select, "number": _number, "button": _button,
    "alarm": _alarm, "text": _text,
}


def _widget_value(spec: ControlSpec, record: EntityRecord) -> Any:
    """The widget value showing ``record``'s state (a button has none)."""
    if spec.kind == "toggle":
        return record.state == spec.on_state
    if spec.kind == "select":
        return record.state if record.state in (record.spec.options or []) else None
    if spec.kind == "text":
        return _text_value(record)
    if spec.kind == "alarm":
        return None
    return _float(record.state)


class Control:
    """One entity's control; call :meth:`sync` when the hub reports a new state."""

    def __init__(self, session: Session, record: EntityRecord) -> None:
        self.session = session
        self.record = record
        self.entity_id = record.entity_id
        self._syncing = False
        self.pending = False
        spec = control_spec(record)
        assert spec is not None, f"{record.entity_id} has no control"
        self.spec = spec
        with ui.row().classes("items-center gap-2 no-wrap") as self.row:
            self.widget: Any = WIDGETS[spec.kind](spec, record, self._changed)
            data(self.widget.mark(f"control:{self.entity_id}"), "control", self.entity_id)
            self.spinner = ui.spinner(size="1.2em").mark(f"pending:{self.entity_id}")
            self.spinner.visible = False
            self.error = ui.label("").classes("text-negative text-xs max-w-[14rem]").mark(
                f"error:{self.entity_id}")
            self.error.visible = False
        self.sync()

    def _changed(self, value: Any) -> None:
        if self._syncing or (value is None and self.spec.kind != "button"):
            return
        service, data = self.spec.call(value)
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
            if self.spec.kind != "button":
                self.widget.value = _widget_value(self.spec, record)
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
