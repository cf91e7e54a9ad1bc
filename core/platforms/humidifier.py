"""``humidifier``, with Home Assistant's MQTT humidifier semantics
(``components/mqtt/humidifier.py`` of HA 2024.8-2025.4).

- State (``state_topic`` through ``state_value_template``): ``payload_on`` / ``payload_off``
  (``ON`` / ``OFF``) -> ``on`` / ``off``; ``None`` -> unknown; others ignored.
- Attributes from their topics and templates: ``humidity`` (the target, rounded, within
  ``min_humidity..max_humidity`` (0..100), ``payload_reset_humidity`` -> None), ``mode`` (one
  of ``modes``, ``payload_reset_mode`` -> None), ``action`` (off, humidifying, drying, idle;
  ``None`` ignored), ``current_humidity`` (rounded, 0..100, ``payload_reset_humidity`` -> none);
  capabilities ``min_humidity``, ``max_humidity``, ``available_modes``.
- Services: ``turn_on`` / ``turn_off`` / ``toggle`` (``command_template``), ``set_humidity``
  (``target_humidity_command_template``), ``set_mode`` (``mode_command_template``); each part
  without its state topic is taken at once.
- Panel: on / off and the target humidity. Voice: "turn on the humidifier".
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from spark.core.discovery.models import PubTopic, Str, StrList, SubTopic
from spark.core.errors import PayloadError
from spark.core.platforms._families import (
    OnOffParts,
    PartsSchema,
    needs,
    render_part,
    spec_of,
    take_mode,
)
from spark.core.platforms._values import data_float, data_option, number
from spark.core.platforms.base import (
    IGNORE,
    Control,
    Entity,
    Level,
    Order,
    Publish,
    Words,
)

ACTIONS = frozenset({"off", "humidifying", "drying", "idle"})
TEMPLATES = {"target_humidity_state_topic": "target_humidity_state_template",
             "mode_state_topic": "mode_state_template",
             "action_topic": "action_template",
             "current_humidity_topic": "current_humidity_template"}


class HumidifierSchema(PartsSchema):
    DEFAULTS = {"payload_on": "ON", "payload_off": "OFF"}
    REQUIRED = ("command_topic", "target_humidity_command_topic")

    target_humidity_state_topic: SubTopic = None
    mode_state_topic: SubTopic = None
    action_topic: SubTopic = None
    current_humidity_topic: SubTopic = None
    target_humidity_command_topic: PubTopic = None
    mode_command_topic: PubTopic = None
    modes: StrList = Field(default_factory=list)
    min_humidity: float = Field(0.0, ge=0)
    max_humidity: float = Field(100.0, le=100)
    payload_reset_humidity: Str = "None"
    payload_reset_mode: Str = "None"

    @model_validator(mode="after")
    def _rules(self) -> HumidifierSchema:
        if self.min_humidity >= self.max_humidity:
            raise ValueError("max_humidity must be > min_humidity")
        if ("mode_command_topic" in self.raw) != ("modes" in self.raw):
            raise ValueError("'mode_command_topic' and 'modes' must be set together")
        if "None" in self.modes:
            raise ValueError("modes must not include 'None'")
        return self


def _schema(entity: Entity) -> HumidifierSchema:
    return spec_of(entity, HumidifierSchema)


class Humidifier(OnOffParts):
    name = "humidifier"
    Schema = HumidifierSchema
    services = ("turn_on", "turn_off", "toggle", "set_humidity", "set_mode")
    state_topics = tuple(TEMPLATES)
    state_attributes = True
    blocked_attributes = frozenset({"action", "available_modes", "current_humidity", "humidity",
                                    "max_humidity", "min_humidity", "mode"})
    control = Control("group", parts=(
        Control("toggle"),
        Control("number", service="set_humidity", field="humidity", value="humidity",
                bounds=("min_humidity", "max_humidity", "")),
        Control("select", service="set_mode", field="mode", value="mode",
                options="available_modes", needs="mode_command_topic"),
    ))
    words = Words(listed=True, switchable=True, setter="number", level=Level(
        "set_humidity", "humidity", min_attr="min_humidity", max_attr="max_humidity",
        noun="humidity"), ha_domains=("switch",))

    def initial(self, entity: Entity) -> str | None:
        spec = _schema(entity)
        attrs = entity.attributes
        attrs["min_humidity"], attrs["max_humidity"] = spec.min_humidity, spec.max_humidity
        attrs.setdefault("humidity", None)
        if spec.mode_command_topic:
            attrs["available_modes"] = list(spec.modes)
            attrs.setdefault("mode", None)
        return None

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        spec = _schema(entity)
        value = render_part(entity, TEMPLATES[key], payload)
        attrs = entity.attributes
        what = f"{entity.entity_id} {key.removesuffix('_topic')}"
        if key == "mode_state_topic":
            take_mode(attrs, "mode", value, spec.payload_reset_mode, spec.modes,
                      f"{what}: {value[:40]!r} is not one of its modes")
            return IGNORE
        if not value:
            return IGNORE
        if key == "target_humidity_state_topic":
            if value == spec.payload_reset_humidity:
                attrs["humidity"] = None
                return IGNORE
            humidity = round(number(value, what))
            if not spec.min_humidity <= humidity <= spec.max_humidity:
                raise PayloadError(f"{what}: {humidity} is outside "
                                   f"{spec.min_humidity:g}..{spec.max_humidity:g}")
            attrs["humidity"] = humidity
        elif key == "action_topic":
            if value == "None":
                return IGNORE  # HA ignores it (the action stays)
            if value not in ACTIONS:
                raise PayloadError(f"{what}: {value[:40]!r} is not a humidifier action")
            attrs["action"] = value
        elif value == spec.payload_reset_humidity:
            attrs.pop("current_humidity", None)
        else:
            current = round(number(value, what))
            if not 0 <= current <= 100:
                raise PayloadError(f"{what}: {current} is outside 0..100")
            attrs["current_humidity"] = current
        return IGNORE

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if service == "toggle":
            service = "turn_off" if entity.state == "on" else "turn_on"
        if service in ("turn_on", "turn_off"):
            on = service == "turn_on"
            payload = spec.payload_on if on else spec.payload_off
            return Order(str(payload), "on" if on else "off", publishes=(
                Publish("command_topic", payload, "command_template"),))
        if service == "set_humidity":
            humidity = int(data_float(data, "humidity", service, spec.min_humidity,
                                      spec.max_humidity))
            publish = Publish("target_humidity_command_topic", humidity,
                              "target_humidity_command_template")
            optimistic = spec.optimistic_for("target_humidity_state_topic")
            values: dict[str, Any] = {"humidity": humidity}
        else:
            needs(entity, "mode_command_topic", service)
            mode = data_option(data, "mode", service, spec.modes)
            publish = Publish("mode_command_topic", mode, "mode_command_template")
            optimistic, values = spec.optimistic_for("mode_state_topic"), {"mode": mode}
        return Order(str(publish.value), None, publishes=(publish,),
                     assume=values if optimistic else None, optimistic=optimistic)
