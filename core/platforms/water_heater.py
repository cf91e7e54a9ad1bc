"""``water_heater``, with Home Assistant's MQTT water heater semantics
(``components/mqtt/water_heater.py`` of HA 2024.8-2025.4).

- State: the operation mode from ``mode_state_topic`` (one of ``modes``, default off, eco,
  electric, gas, heat_pump, high_demand, performance; ``None`` -> unknown); ``off`` without a
  mode state topic (or with ``optimistic``), as HA.
- Attributes: ``current_temperature``, ``temperature`` (target; starts at ``initial``, 110 F =
  43.3 C, without its state topic), rounded to ``precision`` (tenths in Celsius, whole degrees
  in Fahrenheit); ``target_temp_high`` / ``target_temp_low`` (None, as HA shows them);
  with a mode state or command topic: ``operation_mode``, ``operation_list``; ``min_temp`` /
  ``max_temp`` (110..140 F).
- Services: ``set_operation_mode`` (``mode_command_template``), ``set_temperature``
  (``temperature_command_template``; an ``operation_mode`` in the same call is published
  first, as HA), ``turn_on`` / ``turn_off`` (``payload_on`` / ``payload_off`` to
  ``power_command_topic``). Values are checked against the modes and min/max.
- Panel: an operation mode select and a target temperature field.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spark.core.discovery.models import PubTopic, StrList, SubTopic
from spark.core.errors import PayloadError
from spark.core.platforms._families import (
    Part,
    TemperatureSchema,
    needs,
    parts_order,
    render_topic,
    spec_of,
)
from spark.core.platforms._values import data_float, data_option, number, show_temp
from spark.core.platforms.base import (
    IGNORE,
    Control,
    Entity,
    Level,
    Order,
    Platform,
    Publish,
    Words,
)

TOPICS = {"mode_state_topic": "mode_state_template",
          "temperature_state_topic": "temperature_state_template",
          "current_temperature_topic": "current_temperature_template"}


def _fahrenheit_to(unit_f: bool, fahrenheit: float) -> float:
    return fahrenheit if unit_f else (fahrenheit - 32) * 5 / 9


class WaterHeaterSchema(TemperatureSchema):
    NOT_INHERITED = frozenset({"state_topic", "command_topic"})  # a topic per feature
    DEFAULTS = {"payload_on": "ON", "payload_off": "OFF"}

    mode_state_topic: SubTopic = None
    temperature_state_topic: SubTopic = None
    current_temperature_topic: SubTopic = None
    mode_command_topic: PubTopic = None
    temperature_command_topic: PubTopic = None
    power_command_topic: PubTopic = None
    modes: StrList = Field(default_factory=lambda: ["off", "eco", "electric", "gas", "heat_pump",
                                                   "high_demand", "performance"])
    min_temp: float | None = None
    max_temp: float | None = None
    initial: float | None = None

    @property
    def operation_mode(self) -> bool:
        """HA's ``OPERATION_MODE`` feature: a mode state or command topic."""
        return bool(self.mode_state_topic or self.mode_command_topic)


def _schema(entity: Entity) -> WaterHeaterSchema:
    return spec_of(entity, WaterHeaterSchema)


class WaterHeater(Platform):
    name = "water_heater"
    Schema = WaterHeaterSchema
    services = ("set_operation_mode", "set_temperature", "turn_on", "turn_off")
    state_topics = tuple(TOPICS)
    state_attributes = True
    blocked_attributes = frozenset({"current_temperature", "max_temp", "min_temp",
                                    "operation_list", "operation_mode", "temperature",
                                    "target_temp_high", "target_temp_low"})
    control = Control("group", parts=(
        Control("select", service="set_operation_mode", field="operation_mode",
                options="operation_list", needs="mode_command_topic"),
        Control("number", service="set_temperature", field="temperature", value="temperature",
                bounds=("min_temp", "max_temp", ""), needs="temperature_command_topic"),
    ))
    words = Words(listed=True, setter="number", level=Level(  # no toggle: not switchable
        "set_temperature", "temperature", unit="°C", min=43.3, max=60.0, step=0.5,
        min_attr="min_temp", max_attr="max_temp", noun="temperature"), ha_domains=("switch",))

    def initial(self, entity: Entity) -> str | None:
        spec = _schema(entity)
        attrs = entity.attributes
        precision = spec.shown_precision
        f = spec.fahrenheit
        low = spec.min_temp if spec.min_temp is not None else _fahrenheit_to(f, 110)
        high = spec.max_temp if spec.max_temp is not None else _fahrenheit_to(f, 140)
        attrs["min_temp"], attrs["max_temp"] = show_temp(low, precision), show_temp(high, precision)
        attrs.setdefault("current_temperature", None)
        attrs["target_temp_high"] = attrs["target_temp_low"] = None  # HA shows both, unused
        if spec.optimistic_for("temperature_state_topic"):
            start = spec.initial if spec.initial is not None else _fahrenheit_to(f, 110)
            attrs["temperature"] = show_temp(start, precision)
        else:
            attrs.setdefault("temperature", None)
        if spec.operation_mode:
            attrs["operation_list"] = list(spec.modes)
        if spec.optimistic_for("mode_state_topic"):
            if spec.operation_mode:
                attrs["operation_mode"] = "off"
            return "off"
        return None

    def state(self, entity: Entity, payload: bytes) -> Any:
        return IGNORE  # the mode has its own topic

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        spec = _schema(entity)
        value = render_topic(entity, TOPICS[key], payload)
        what = f"{entity.entity_id} {key.removesuffix('_topic')}"
        if key == "mode_state_topic":
            if not value.strip():
                return IGNORE
            mode = None if value == "None" else value
            if mode is not None and mode not in spec.modes:
                raise PayloadError(f"{what}: {value[:40]!r} is not one of its modes")
            if spec.operation_mode:  # HA shows operation_mode with OPERATION_MODE only
                entity.attributes["operation_mode"] = mode
            return mode
        if not value:
            return IGNORE
        parsed = None if value == "None" else number(value, what)
        attribute = "temperature" if key == "temperature_state_topic" else "current_temperature"
        entity.attributes[attribute] = show_temp(parsed, spec.shown_precision)
        return IGNORE

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if service in ("turn_on", "turn_off"):
            needs(entity, "power_command_topic", service)
            payload = spec.payload_on if service == "turn_on" else spec.payload_off
            return Order(str(payload), None, publishes=(
                Publish("power_command_topic", payload, "power_command_template"),),
                optimistic=True)
        parts: list[Part] = []
        mode = None
        if service == "set_operation_mode" or data.get("operation_mode") is not None:
            mode = data_option(data, "operation_mode", service, spec.modes)
            parts.append((Publish("mode_command_topic", mode, "mode_command_template"),
                          spec.optimistic_for("mode_state_topic"), {"operation_mode": mode}))
        if service == "set_temperature":
            attrs = entity.attributes
            temperature = data_float(data, "temperature", service, attrs.get("min_temp"),
                                     attrs.get("max_temp"))
            parts.append((Publish("temperature_command_topic", temperature,
                                  "temperature_command_template"),
                          spec.optimistic_for("temperature_state_topic"),
                          {"temperature": show_temp(temperature, spec.shown_precision)}))
        return parts_order(entity, parts, mode)
