"""``fan``, with Home Assistant's MQTT fan semantics (``components/mqtt/fan.py`` of HA
2024.8-2025.4).

- State (``state_topic`` through ``state_value_template``, not ``value_template``):
  ``payload_on`` / ``payload_off`` (``ON`` / ``OFF``) -> ``on`` / ``off``; ``None`` -> unknown;
  empty and other payloads are ignored, as HA does.
- Attributes, each from its topic through its ``*_value_template``: ``percentage`` (an integer
  in ``speed_range_min..speed_range_max`` scaled to 0..100, ``payload_reset_percentage`` ->
  None, out of range refused) with ``percentage_step``; ``preset_mode`` (one of
  ``preset_modes``, ``payload_reset_preset_mode`` -> None); ``oscillating``
  (``payload_oscillation_on`` / ``_off``, false once a state topic is set); ``direction``.
- Services: ``turn_on`` (``payload_on`` through ``command_template``, then ``percentage`` and
  ``preset_mode`` when given, as HA), ``turn_off``, ``toggle``, ``set_percentage`` (the ceiling
  of the scaled value through ``percentage_command_template``), ``set_preset_mode``,
  ``oscillate``, ``set_direction`` (forward / reverse). Each attribute without its state topic
  is taken at once (HA's per-attribute optimism); the state is optimistic without
  ``state_topic``.
- Panel: on / off and a percentage slider. Voice: "turn on the kitchen fan".
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from spark.core.discovery.models import PubTopic, Str, StrList, SubTopic
from spark.core.errors import PayloadError
from spark.core.platforms._families import (
    OnOffParts,
    Part,
    PartsSchema,
    assumed,
    needs,
    render_part,
    spec_of,
    take_mode,
)
from spark.core.platforms._values import (
    data_bool,
    data_option,
    data_percentage,
    from_percentage,
    states_in_range,
    to_percentage,
)
from spark.core.platforms.base import (
    IGNORE,
    Control,
    Entity,
    Level,
    Order,
    Publish,
    Words,
)

# attribute -> (its state topic, command topic, command template); None: the state itself
PARTS: dict[str, tuple[str, str, str]] = {
    "percentage": ("percentage_state_topic", "percentage_command_topic",
                   "percentage_command_template"),
    "preset_mode": ("preset_mode_state_topic", "preset_mode_command_topic",
                    "preset_mode_command_template"),
    "oscillating": ("oscillation_state_topic", "oscillation_command_topic",
                    "oscillation_command_template"),
    "direction": ("direction_state_topic", "direction_command_topic",
                  "direction_command_template"),
}
TEMPLATES = {"percentage_state_topic": "percentage_value_template",
             "preset_mode_state_topic": "preset_mode_value_template",
             "oscillation_state_topic": "oscillation_value_template",
             "direction_state_topic": "direction_value_template"}


class FanSchema(PartsSchema):
    DEFAULTS = {"payload_on": "ON", "payload_off": "OFF"}
    REQUIRED = ("command_topic",)

    percentage_state_topic: SubTopic = None
    preset_mode_state_topic: SubTopic = None
    oscillation_state_topic: SubTopic = None
    direction_state_topic: SubTopic = None
    percentage_command_topic: PubTopic = None
    preset_mode_command_topic: PubTopic = None
    oscillation_command_topic: PubTopic = None
    direction_command_topic: PubTopic = None
    preset_modes: StrList = Field(default_factory=list)
    speed_range_min: int = 1
    speed_range_max: int = 100
    payload_oscillation_on: Str = "oscillate_on"
    payload_oscillation_off: Str = "oscillate_off"
    payload_reset_percentage: Str = "None"
    payload_reset_preset_mode: Str = "None"

    @model_validator(mode="after")
    def _rules(self) -> FanSchema:
        if self.speed_range_min <= 0:
            raise ValueError("speed_range_min must be > 0")
        if self.speed_range_max <= self.speed_range_min:
            raise ValueError("speed_range_max must be > speed_range_min")
        if ("preset_mode_command_topic" in self.raw) != ("preset_modes" in self.raw):
            raise ValueError("'preset_mode_command_topic' and 'preset_modes' must be set "
                             "together")
        return self

    @property
    def speed_range(self) -> tuple[int, int]:
        return (self.speed_range_min, self.speed_range_max)


def _schema(entity: Entity) -> FanSchema:
    return spec_of(entity, FanSchema)


class Fan(OnOffParts):
    name = "fan"
    Schema = FanSchema
    services = ("turn_on", "turn_off", "toggle", "set_percentage", "set_preset_mode",
                "oscillate", "set_direction")
    state_topics = tuple(TEMPLATES)
    state_attributes = True
    blocked_attributes = frozenset({"direction", "oscillating", "percentage_step", "percentage",
                                    "preset_mode", "preset_modes"})
    control = Control("group", parts=(
        Control("toggle"),
        Control("slider", service="set_percentage", field="percentage", value="percentage",
                needs="percentage_command_topic"),
    ))
    # "the kitchen fan"; HA's HassFanSetSpeed "set the fan speed to fifty percent"
    words = Words(listed=True, switchable=True, area_noun=True, setter="number",
                  level=Level("set_percentage", "percentage", noun="speed"),
                  ha_domains=("sensor",))

    # ---- state -----------------------------------------------------------------------------
    def initial(self, entity: Entity) -> str | None:
        spec = _schema(entity)
        attrs = entity.attributes
        if spec.percentage_command_topic:
            attrs.setdefault("percentage", None)
            attrs["percentage_step"] = 100 / min(states_in_range(spec.speed_range), 100)
        if spec.percentage_command_topic or spec.preset_mode_command_topic:
            attrs.setdefault("preset_mode", None)
        if spec.preset_mode_command_topic:
            attrs["preset_modes"] = list(spec.preset_modes)
        if spec.oscillation_command_topic:
            attrs.setdefault("oscillating", False if spec.oscillation_state_topic else None)
        if spec.direction_command_topic:
            attrs.setdefault("direction", None)
        return None

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        spec = _schema(entity)
        value = render_part(entity, TEMPLATES[key], payload)
        attrs = entity.attributes
        if key == "percentage_state_topic":
            if not value:
                return IGNORE
            if value == spec.payload_reset_percentage:
                attrs["percentage"] = None
                return IGNORE
            try:
                percentage = to_percentage(spec.speed_range, int(value))
            except ValueError:
                raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is not a speed in "
                                   f"{spec.speed_range_min}..{spec.speed_range_max}") from None
            if not 0 <= percentage <= 100:
                raise PayloadError(f"{entity.entity_id}: speed {value[:40]} is outside "
                                   f"{spec.speed_range_min}..{spec.speed_range_max}")
            attrs["percentage"] = percentage
        elif key == "preset_mode_state_topic":
            take_mode(attrs, "preset_mode", value, spec.payload_reset_preset_mode,
                      spec.preset_modes, f"{entity.entity_id}: {value[:40]!r} is not a preset mode")
        elif key == "oscillation_state_topic":
            if value == spec.payload_oscillation_on:
                attrs["oscillating"] = True
            elif value == spec.payload_oscillation_off:
                attrs["oscillating"] = False
        elif value:
            attrs["direction"] = value[:64]
        return IGNORE

    # ---- services --------------------------------------------------------------------------
    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if service == "toggle":
            service = "turn_off" if entity.state == "on" else "turn_on"
        parts: list[Part] = []
        expect: str | None = None
        if service in ("turn_on", "turn_off"):
            on = service == "turn_on"
            expect = "on" if on else "off"
            payload = spec.payload_on if on else spec.payload_off
            parts.append((Publish("command_topic", payload, "command_template"), False, {}))
            if on and data.get("percentage"):
                parts.append(self._percentage(entity, data, service))
            if on and data.get("preset_mode"):
                parts.append(self._preset(entity, data, service))
        elif service == "set_percentage":
            parts.append(self._percentage(entity, data, service))
        elif service == "set_preset_mode":
            parts.append(self._preset(entity, data, service))
        elif service == "oscillate":
            needs(entity, "oscillation_command_topic", service)
            on = data_bool(data, "oscillating", service)
            payload = spec.payload_oscillation_on if on else spec.payload_oscillation_off
            parts.append((Publish("oscillation_command_topic", payload,
                                  "oscillation_command_template"),
                          spec.optimistic_for("oscillation_state_topic"), {"oscillating": on}))
        else:
            needs(entity, "direction_command_topic", service)
            direction = data_option(data, "direction", service, ["forward", "reverse"])
            parts.append((Publish("direction_command_topic", direction,
                                  "direction_command_template"),
                          spec.optimistic_for("direction_state_topic"), {"direction": direction}))
        publishes = tuple(p for p, _, _ in parts)
        assume = assumed(parts)
        state_optimistic = expect is not None and self.optimistic(entity)
        if state_optimistic or (assume and expect is None):
            return Order(str(publishes[0].value), expect, publishes=publishes, assume=assume,
                         optimistic=True)
        if assume:  # the state waits for the device, the attributes do not: take them now
            return Order(str(publishes[0].value), None, publishes=publishes, assume=assume,
                         optimistic=True)
        return Order(str(publishes[0].value), expect, publishes=publishes, optimistic=False)

    def _percentage(self, entity: Entity, data: dict[str, Any], service: str
                    ) -> Part:
        spec = _schema(entity)
        needs(entity, "percentage_command_topic", service)
        percentage = data_percentage(data, "percentage", service)
        value = math.ceil(from_percentage(spec.speed_range, percentage))
        return (Publish("percentage_command_topic", value, "percentage_command_template"),
                spec.optimistic_for("percentage_state_topic"), {"percentage": percentage})

    def _preset(self, entity: Entity, data: dict[str, Any], service: str
                ) -> Part:
        spec = _schema(entity)
        needs(entity, "preset_mode_command_topic", service)
        preset = data_option(data, "preset_mode", service, spec.preset_modes)
        return (Publish("preset_mode_command_topic", preset, "preset_mode_command_template"),
                spec.optimistic_for("preset_mode_state_topic"), {"preset_mode": preset})
