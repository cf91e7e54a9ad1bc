"""Entity state and controls, each showing *pending* until the device confirms the new state and
an error when it does not in time.

Which control an entity gets is its platform's data (``core/platforms/``: ``Control.kind`` and
the services it calls); this module only maps each kind to a NiceGUI widget (``WIDGETS``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from nicegui import background_tasks, ui

from spark.core.errors import CodeError, ServiceError
from spark.core.platforms import Control as ControlSpec
from spark.core.platforms import ControlKind, platform_for
from spark.hub.entity import EntityRecord
from spark.ui.attrs import data
from spark.ui.codes import CODE_REFUSED, Changed, Keypad, code_field, code_format, take_code
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
    """An operator gets a control when the platform has one and the entity has a command
    topic of any kind (``EntityRecord.commandable``)."""
    return control_spec(record) is not None and record.commandable




def _parts(spec: ControlSpec, record: EntityRecord) -> list[ControlSpec]:
    """The widgets of a control: a group's parts whose config key (``needs``) is set."""
    parts = list(spec.parts) if spec.kind == "group" else [spec]
    return [p for p in parts if not p.needs or record.spec.raw.get(p.needs)]


def _options(spec: ControlSpec, record: EntityRecord) -> list[str]:
    values = (record.attributes.get(spec.options) if spec.options else record.spec.options)
    return [str(v) for v in values] if isinstance(values, list) else []


def _attr_float(record: EntityRecord, name: str) -> float | None:
    value = record.attributes.get(name) if name else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _toggle(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return ui.switch(value=record.state == spec.on_state, on_change=lambda e: changed(e.value))


def _select(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return ui.select(_options(spec, record), value=_widget_value(spec, record),
                     on_change=lambda e: changed(e.value)).classes("min-w-[8rem]").props("dense")


def _number(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    entity = record.spec
    low, high, step = (entity.min, entity.max, entity.step) if spec.bounds is None else (
        _attr_float(record, spec.bounds[0]), _attr_float(record, spec.bounds[1]),
        _attr_float(record, spec.bounds[2]))
    widget = ui.number(value=_widget_value(spec, record), min=low, max=high, step=step or 1,
                       on_change=lambda e: changed(e.value))
    widget.props("dense debounce=700").classes("w-28")
    if entity.unit_of_measurement and not spec.value:
        widget.props["suffix"] = entity.unit_of_measurement
    return widget


def _slider(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    """0..100 (a position, a percentage); calls on release, not while dragging."""
    widget = ui.slider(min=0, max=100, step=1, value=_widget_value(spec, record))
    widget.classes("w-32 mx-3").props("label")  # (mx: the thumb at 0 clear of a button)
    widget.on("change", lambda e: changed(e.args if isinstance(e.args, int | float)
                                          else widget.value))
    return widget


def _button(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return ui.button(spec.label or "Press", on_click=lambda: changed(None)).props(
        "dense unelevated")


def _alarm(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return Keypad(spec, record, changed)


def _text(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    """A text field, sent with Enter; a ``password`` mode text is never shown back."""
    secret = record.spec.mode == "password"
    widget = ui.input(value=_text_value(record), password=secret).props("dense").classes("w-40")
    widget.on("keydown.enter", lambda: changed(widget.value))
    return widget


def _text_value(record: EntityRecord) -> str:
    return "" if record.spec.mode == "password" or record.state is None else record.state


def _int_attr(record: EntityRecord, key: str, low: int, high: int) -> int | None:
    """An integer attribute within ``low..high`` (anything else: None; never device text)."""
    value = (record.attributes or {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if low <= value <= high else None


def _rgb_hex(record: EntityRecord) -> str | None:
    rgb = (record.attributes or {}).get("rgb_color")
    if not isinstance(rgb, list | tuple) or len(rgb) != 3 or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb):
        return None
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _hex_rgb(text: Any) -> list[int] | None:
    if not isinstance(text, str) or len(text) != 7 or text[0] != "#":
        return None
    try:
        return [int(text[i:i + 2], 16) for i in (1, 3, 5)]
    except ValueError:
        return None


class LightWidget:
    """A light's on/off switch, with a brightness slider, a colour temperature slider and a
    colour input for what its ``supported_color_modes`` allow. Every value shown is a number
    the light platform validated (or ``#rrggbb`` built from them); a change calls ``turn_on``
    with HA's data (``brightness``, ``color_temp_kelvin``, ``rgb_color``)."""

    def __init__(self, spec: ControlSpec, record: EntityRecord, changed: Changed) -> None:
        attrs = record.attributes or {}
        modes = set(attrs.get("supported_color_modes") or ())
        self.slider_brightness: Any = None
        self.slider_kelvin: Any = None
        self.colour: Any = None
        with ui.column().classes("gap-0 min-w-[12rem]"):
            self.switch = ui.switch(value=record.state == spec.on_state,
                                    on_change=lambda e: changed(e.value))
            if modes - {"onoff"}:
                ui.label("Brightness").classes("text-xs opacity-70")
                self.slider_brightness = ui.slider(min=1, max=255, step=1).props("label").mark(
                    f"brightness:{record.entity_id}")
                self.slider_brightness.on(
                    "change", lambda e: changed(_turn_on("brightness", e.args, 1, 255)))
            if "color_temp" in modes:
                low = _int_attr(record, "min_color_temp_kelvin", 1, 1_000_000) or 2000
                high = _int_attr(record, "max_color_temp_kelvin", low, 1_000_000) or 6535
                ui.label("Colour temperature").classes("text-xs opacity-70")
                self.slider_kelvin = ui.slider(min=low, max=max(high, low + 1), step=10).mark(
                    f"kelvin:{record.entity_id}")
                self.slider_kelvin.props("label color=orange")
                self.slider_kelvin.on(
                    "change", lambda e: changed(_turn_on("color_temp_kelvin", e.args, low, high)))
            if modes & {"hs", "xy", "rgb", "rgbw", "rgbww"}:
                self.colour = ui.color_input(label="Colour").props("dense").mark(
                    f"colour:{record.entity_id}")
                self.colour.on("change", lambda e: changed(
                    {"rgb_color": rgb} if (rgb := _hex_rgb(self.colour.value)) else None))
        self.show(record)

    def mark(self, marker: str) -> Any:
        """The switch carries the control's marker (tests and the page find it by that)."""
        return self.switch.mark(marker)

    @property
    def value(self) -> bool:
        return bool(self.switch.value)

    @value.setter
    def value(self, record: EntityRecord) -> None:  # (Control.sync: _widget_value is the record)
        self.show(record)

    def show(self, record: EntityRecord) -> None:
        self.switch.value = record.state == "on"
        if self.slider_brightness is not None:
            level = _int_attr(record, "brightness", 1, 255)
            if level is not None:
                self.slider_brightness.value = level
        if self.slider_kelvin is not None:
            kelvin = _int_attr(record, "color_temp_kelvin", 1, 1_000_000)
            if kelvin is not None:
                self.slider_kelvin.value = kelvin
        if self.colour is not None and (rgb := _rgb_hex(record)) is not None:
            self.colour.value = rgb

    @property
    def enabled(self) -> bool:
        return bool(self.switch.enabled)

    @enabled.setter
    def enabled(self, value: bool) -> None:
        for widget in (self.switch, self.slider_brightness, self.slider_kelvin, self.colour):
            if widget is not None:
                widget.enabled = value


def _turn_on(key: str, value: Any, low: int, high: int) -> dict[str, Any] | None:
    """A slider's value as ``turn_on`` data (None: not a number in range, nothing is sent)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return {key: int(min(max(value, low), high))}


def _light(spec: ControlSpec, record: EntityRecord, changed: Changed) -> Any:
    return LightWidget(spec, record, changed)


# Control kind -> the widget drawing it (a group draws one per part).
WIDGETS: dict[ControlKind, Callable[[ControlSpec, EntityRecord, Changed], Any]] = {
    "toggle": _toggle, "select": _select, "number": _number, "button": _button,
    "slider": _slider, "light": _light, "alarm": _alarm, "text": _text,
}


def _widget_value(spec: ControlSpec, record: EntityRecord) -> Any:
    """The widget value showing ``record``'s state or attribute ``spec.value`` (a light's
    widget reads what it shows from the record itself)."""
    if spec.kind == "toggle":
        return record.state == spec.on_state
    if spec.kind == "light":
        return record
    current = record.attributes.get(spec.value) if spec.value else record.state
    if spec.kind == "select":
        return current if current in _options(spec, record) else None
    if spec.kind == "text":
        return _text_value(record)
    if spec.kind == "alarm":
        return None
    if isinstance(current, bool):
        return None
    if isinstance(current, int | float):
        return float(current)
    return _float(current) if isinstance(current, str) else None


class Control:
    """One entity's control (one widget per part of a group); call :meth:`sync` when the hub
    reports a new state."""

    def __init__(self, session: Session, record: EntityRecord) -> None:
        self.session = session
        self.record = record
        self.entity_id = record.entity_id
        self._syncing = False
        self.pending = False
        spec = control_spec(record)
        assert spec is not None, f"{record.entity_id} has no control"
        self.spec = spec
        self.widgets: list[tuple[ControlSpec, Any]] = []
        row = ui.row()  # a group wraps on a phone
        if spec.kind == "group":
            row.classes("items-center gap-1 flex-wrap")
        else:
            row.classes("items-center gap-2 no-wrap")
        with row as self.row:
            # a code asked for beside the control (a lock's; the alarm keypad has its own)
            fmt = code_format(spec, record) if spec.kind != "alarm" else None
            self.code: Any = code_field(self.entity_id, fmt) if fmt is not None else None
            for i, part in enumerate(_parts(spec, record)):
                widget = WIDGETS[part.kind](part, record, self._changed_for(part))
                name = f"control:{self.entity_id}:{part.service or part.kind}"
                mark = f"control:{self.entity_id} {name}" if i == 0 else name
                data(widget.mark(mark), "control", self.entity_id)
                self.widgets.append((part, widget))
            self.spinner = ui.spinner(size="1.2em").mark(f"pending:{self.entity_id}")
            self.spinner.visible = False
            self.error = data(ui.label("").classes("text-negative text-xs max-w-[14rem]").mark(
                f"error:{self.entity_id}"), "error", self.entity_id)
            self.error.visible = False
        self.sync()

    @property
    def widget(self) -> Any:
        """The first widget (the only one of a simple control)."""
        return self.widgets[0][1]

    def _changed_for(self, part: ControlSpec) -> Changed:
        return lambda value: self._changed(part, value)

    def _changed(self, part: ControlSpec, value: Any) -> None:
        if self._syncing or (value is None and part.kind != "button"):
            return
        service, data = part.call(value)
        code = take_code(self.code)
        if code is not None:
            data = {**data, "code": code}
        self._set_pending(True)
        self.error.visible = False
        background_tasks.create(self._call(service, data), name=f"control-{self.entity_id}")

    async def _call(self, service: str, data: dict[str, Any]) -> None:
        try:
            await self.session.call(service, self.entity_id, data)
        except CodeError as exc:  # in words; the hub's own text is the API's
            self._show_error(CODE_REFUSED[exc.reason])
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

    def _inputs(self) -> list[Any]:
        return [w for _, w in self.widgets] + ([self.code] if self.code is not None else [])

    def _set_pending(self, pending: bool) -> None:
        self.pending = pending
        self.spinner.visible = pending
        for widget in self._inputs():
            widget.enabled = not pending and self.record.available

    def sync(self) -> None:
        """Show the hub's current state (the device's confirmed one) unless a call waits."""
        if self.pending:
            return
        record = self.record
        self._syncing = True
        try:
            for part, widget in self.widgets:
                if part.kind == "select":
                    widget.set_options(_options(part, record))
                if part.kind != "button":
                    widget.value = _widget_value(part, record)
                widget.enabled = record.available
            if self.code is not None:
                self.code.enabled = record.available
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
