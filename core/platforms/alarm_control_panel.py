"""``alarm_control_panel``, with Home Assistant's MQTT alarm semantics (HA 2025.4).

- State: the rendered payload (``value_template``) must be one of HA's alarm states
  (``disarmed``, ``armed_home``, ``armed_away``, ``armed_night``, ``armed_vacation``,
  ``armed_custom_bypass``, ``pending``, ``triggered``, ``arming``, ``disarming``); ``None``
  makes it unknown, an empty payload and anything else are ignored (HA logs and keeps the state).
- Attributes: ``code_format`` (``None`` without a ``code``; ``number`` for a code of digits or
  ``REMOTE_CODE``; ``text`` otherwise, ``REMOTE_CODE_TEXT`` included), ``code_arm_required``,
  ``changed_by`` (always None over MQTT), ``supported_features``.
- Services: ``alarm_arm_home`` / ``_away`` / ``_night`` / ``_vacation`` / ``_custom_bypass``,
  ``alarm_disarm``, ``alarm_trigger`` (each only when ``supported_features`` lists it; disarm
  always). The payload is ``payload_<action>`` (``ARM_HOME`` ... ``DISARM``, ``TRIGGER``) through
  ``command_template`` (default ``{{ action }}``) with the variables ``action`` and ``code``.
- Codes: with a ``code`` in the config and the action's ``code_*_required`` (default true), a call
  without the right code is refused before anything is published; ``REMOTE_CODE`` /
  ``REMOTE_CODE_TEXT`` accept any non-empty code (the panel checks it). The code is a secret: it
  is never part of an error message, and the call's result hides what was published
  (``Order.secret``).
- Never optimistic (HA requires ``state_topic``); a call waits for the state it asks for.
- Panel: a keypad, with a code field when ``code_format`` is set (the code goes with a disarm,
  and with an arm unless ``code_arm_required`` is false, as HA's panel).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator

from spark.core.discovery.models import DiscoveredEntity, OptStr, Str
from spark.core.errors import CodeError, ServiceError
from spark.core.platforms._families import check_features, spec_of
from spark.core.platforms.base import IGNORE, Control, Entity, Order, Platform, Publish, Words

STATES = frozenset({
    "disarmed", "armed_home", "armed_away", "armed_night", "armed_vacation",
    "armed_custom_bypass", "pending", "triggered", "arming", "disarming",
})
REMOTE_CODE, REMOTE_CODE_TEXT = "REMOTE_CODE", "REMOTE_CODE_TEXT"
MAX_CODE = 64  # characters of a code a caller may send
# service -> (supported_features name or None: always, payload key, code rule, state asked for)
ACTIONS: dict[str, tuple[str | None, str, str, str]] = {
    "alarm_arm_home": ("arm_home", "payload_arm_home", "code_arm_required", "armed_home"),
    "alarm_arm_away": ("arm_away", "payload_arm_away", "code_arm_required", "armed_away"),
    "alarm_arm_night": ("arm_night", "payload_arm_night", "code_arm_required", "armed_night"),
    "alarm_arm_vacation": ("arm_vacation", "payload_arm_vacation", "code_arm_required",
                           "armed_vacation"),
    "alarm_arm_custom_bypass": ("arm_custom_bypass", "payload_arm_custom_bypass",
                                "code_arm_required", "armed_custom_bypass"),
    "alarm_disarm": (None, "payload_disarm", "code_disarm_required", "disarmed"),
    "alarm_trigger": ("trigger", "payload_trigger", "code_trigger_required", "triggered"),
}
FEATURES = ("arm_home", "arm_away", "arm_night", "arm_vacation", "arm_custom_bypass", "trigger")


class AlarmSchema(DiscoveredEntity):
    REQUIRED = ("state_topic", "command_topic")

    code: OptStr = None
    code_arm_required: bool = True
    code_disarm_required: bool = True
    code_trigger_required: bool = True
    payload_arm_home: Str = "ARM_HOME"
    payload_arm_away: Str = "ARM_AWAY"
    payload_arm_night: Str = "ARM_NIGHT"
    payload_arm_vacation: Str = "ARM_VACATION"
    payload_arm_custom_bypass: Str = "ARM_CUSTOM_BYPASS"
    payload_disarm: Str = "DISARM"
    payload_trigger: Str = "TRIGGER"
    supported_features: tuple[str, ...] = FEATURES

    @field_validator("supported_features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        return check_features(value, FEATURES)

    @property
    def code_format(self) -> str | None:
        code = self.code
        if code is None:
            return None
        if code == REMOTE_CODE or re.fullmatch(r"\d+", code):
            return "number"
        return "text"


def _schema(entity: Entity) -> AlarmSchema:
    return spec_of(entity, AlarmSchema)


class AlarmControlPanel(Platform):
    name = "alarm_control_panel"
    Schema = AlarmSchema
    services = tuple(ACTIONS)
    state_attributes = True
    control = Control("alarm", service="alarm_disarm", field="code", code="code_format")
    # Listed (voice may say its state) but never armed or disarmed by voice: no setter words.
    confirm_calls = True  # the agent asks first
    words = Words(listed=True)

    def state(self, entity: Entity, payload: bytes) -> Any:
        value = self.render(entity, payload)
        self._attributes(entity)
        if value == "None":
            return None
        if value not in STATES:
            return IGNORE  # HA: "received unexpected payload", the state stays
        return value

    @staticmethod
    def _attributes(entity: Entity) -> None:
        spec = _schema(entity)
        entity.attributes.update(code_format=spec.code_format,
                                 code_arm_required=spec.code_arm_required, changed_by=None,
                                 supported_features=list(spec.supported_features))

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        spec = _schema(entity)
        if spec.code is None:
            return {}
        return {"code": {"type": "string", "maxLength": MAX_CODE}}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        action = ACTIONS.get(service)
        if action is None:
            raise self.refuse(entity, service)
        feature, payload_key, rule, target = action
        spec = _schema(entity)
        if feature is not None and feature not in spec.supported_features:
            raise ServiceError(f"{entity.entity_id} does not support {feature} "
                               "(not in its supported_features)")
        code = data.get("code")
        if code is not None and not isinstance(code, str | int):
            raise CodeError("code must be text or a number", "form")
        code = None if code is None else str(code)
        if code is not None and len(code) > MAX_CODE:
            raise CodeError(f"code longer than {MAX_CODE} characters", "form")
        if getattr(spec, rule):
            self._check_code(entity, spec, code, service)
        payload = getattr(spec, payload_key)
        if entity.template("command_template") is None:
            publish = Publish("command_topic", payload)
        else:
            publish = Publish("command_topic", None, "command_template",
                              {"action": payload, "code": code})
        return Order(payload, target, publishes=(publish,), secret=True)

    @staticmethod
    def _check_code(entity: Entity, spec: AlarmSchema, code: str | None, service: str) -> None:
        wanted = spec.code
        if wanted is None:
            return
        if not code:
            raise CodeError(f"{service} on {entity.entity_id} needs a code", "missing")
        if wanted in (REMOTE_CODE, REMOTE_CODE_TEXT):
            return  # the panel checks it
        if code != wanted:  # never say which code was given or expected
            raise CodeError(f"{service} on {entity.entity_id}: wrong code", "wrong")
