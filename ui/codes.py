"""The panel's codes for locks and alarm panels (HA's rules): a code field that never shows,
keeps or logs the code, the alarm panel's keypad, and a refused code in words."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nicegui import ui

from spark.core.platforms import Control as ControlSpec
from spark.hub.entity import EntityRecord
from spark.ui.attrs import data

Changed = Callable[[Any], None]

# An alarm panel's actions as the keypad shows them (our own labels; trigger is left out).
ALARM_BUTTONS = (("alarm_disarm", None, "Disarm"), ("alarm_arm_home", "arm_home", "Home"),
                 ("alarm_arm_away", "arm_away", "Away"), ("alarm_arm_night", "arm_night", "Night"),
                 ("alarm_arm_vacation", "arm_vacation", "Vacation"),
                 ("alarm_arm_custom_bypass", "arm_custom_bypass", "Bypass"))
# A code format that takes digits only (an alarm panel's "number", a lock's ^\d{4}$): the code
# field asks for the phone's number pad. Only this test reads the device's pattern; it never
# reaches the page.
_DIGITS = re.compile(r"\^?(?:\\d|\[0-9\])(?:\{\d+(?:,\d*)?\}|[+*])?\$?")


# A refused code as the panel says it (core.errors.CodeError.reason).
CODE_REFUSED = {"missing": "Enter the code first: nothing was sent.",
                "form": "That is not a code this device takes: nothing was sent.",
                "wrong": "Wrong code: nothing was sent."}


def code_format(spec: ControlSpec, record: EntityRecord) -> str | None:
    """The entity's code format when the panel asks for a code (``Control.code``: the
    attribute naming it, HA's ``code_format``), else None."""
    value = (record.attributes or {}).get(spec.code) if spec.code else None
    return value if isinstance(value, str) and value else None


def numeric_code(fmt: str) -> bool:
    return fmt == "number" or _DIGITS.fullmatch(fmt) is not None


def code_field(entity_id: str, fmt: str, *markers: str) -> Any:
    """A code's field: a password field without a reveal button or autofill, the number pad
    for a digits-only format (marker ``code:<entity>``, attribute ``data-code``). Its value is
    taken by :func:`take_code` for each call and never shown back."""
    field = ui.input(label="Code", password=True).props("dense autocomplete=off").classes("w-24")
    if numeric_code(fmt):
        field.props["inputmode"] = "numeric"
    return data(field.mark(" ".join((f"code:{entity_id}", *markers))), "code", entity_id)


def take_code(field: Any) -> str | None:
    """The code entered in ``field`` (None: none), the field emptied at once: the code goes
    with the call and stays nowhere in the page."""
    if field is None:
        return None
    code, field.value = field.value, ""
    return code if isinstance(code, str) and code else None


class Keypad(ui.row):
    """An alarm panel's control: a code field when it has a ``code_format`` (:func:`code_field`)
    and a button per supported action (markers ``key:<entity>:code`` and
    ``key:<entity>:<service>``, attribute ``data-key="<entity>:<service>"``). As HA's panel:
    the code goes with a disarm, and with an arm only when ``code_arm_required`` is not
    false."""

    def __init__(self, spec: ControlSpec, record: EntityRecord, changed: Changed) -> None:
        super().__init__(wrap=True)
        self.classes("items-center gap-1")
        self._changed = changed
        features = getattr(record.spec, "supported_features", ())
        self.arm_code = (record.attributes or {}).get("code_arm_required") is not False
        with self:
            self.code: Any = None
            fmt = code_format(spec, record)
            if fmt is not None:
                self.code = code_field(record.entity_id, fmt, f"key:{record.entity_id}:code")
            self.buttons = [
                data(ui.button(label, on_click=lambda _e=None, s=service: self._press(s)).props(
                    "dense unelevated no-caps").mark(f"key:{record.entity_id}:{service}"),
                    "key", f"{record.entity_id}:{service}")
                for service, feature, label in ALARM_BUTTONS
                if feature is None or feature in features]

    def _press(self, service: str) -> None:
        code = take_code(self.code)
        if service != "alarm_disarm" and not self.arm_code:
            code = None  # arming needs no code (HA's panel does not ask for one)
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
