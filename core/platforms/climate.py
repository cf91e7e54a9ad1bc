"""``climate``, with Home Assistant's MQTT climate semantics (``components/mqtt/climate.py`` of
HA 2025.4, with ``swing_horizontal_mode`` of HA 2024.12; the setpoint parking of later releases
is not done).

- State: the hvac mode from ``mode_state_topic`` (one of ``modes``, default auto, off, cool,
  heat, dry, fan_only; ``None`` -> unknown). Without a mode state topic (or with
  ``optimistic``) the entity starts ``off``, as in HA, and takes the mode a call sets.
- Attributes, each from its own topic through its template (falling back to
  ``value_template``): ``current_temperature``, ``temperature`` / ``target_temp_low`` /
  ``target_temp_high`` (shown rounded to ``precision``: tenths in Celsius, whole degrees in
  Fahrenheit), ``current_humidity``, ``humidity`` (target), ``fan_mode``, ``swing_mode``,
  ``swing_horizontal_mode``, ``preset_mode`` (``none`` when reset), ``hvac_action``; and the
  capabilities ``hvac_modes``, ``min_temp`` / ``max_temp`` (7..35 C), ``target_temp_step``,
  ``fan_modes``, ``swing_modes``, ``swing_horizontal_modes`` (default on, off),
  ``preset_modes`` (``none`` first), ``min_humidity`` / ``max_humidity`` (30..99). Setpoints
  without a state topic start at ``initial`` (21 C), fan mode ``low``, both swings ``off``.
  Empty payloads are ignored; values outside the lists and non-numbers are refused.
- Services: ``set_hvac_mode``; ``set_temperature`` (``temperature``, ``target_temp_low`` /
  ``target_temp_high``, and ``hvac_mode`` published first, as HA); ``set_humidity``,
  ``set_fan_mode``, ``set_swing_mode``, ``set_swing_horizontal_mode``, ``set_preset_mode``;
  ``turn_on`` / ``turn_off`` (``payload_on`` / ``payload_off`` to ``power_command_topic``, else
  the mode heat_cool / heat / cool, or off), ``toggle``. Each value goes through its
  ``*_command_template`` (numbers unformatted: ``22.0``); a value whose state topic is missing
  is taken at once (HA's per-attribute optimism). Values are checked against the modes and
  min/max (HA's service validation).
- Units: the entity's ``temperature_unit`` is taken as the hub's (no conversion).
- Panel: a mode select and a target temperature field. Voice: on / off, asked about.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from spark.core.discovery.models import PubTopic, StrList, SubTopic
from spark.core.errors import PayloadError, ServiceError
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

ACTIONS = frozenset({"off", "preheating", "defrosting", "heating", "cooling", "drying", "idle",
                     "fan"})
# state topic -> (its template, the attribute it sets, how its payload is read)
TOPICS: dict[str, tuple[str, str, str]] = {
    "mode_state_topic": ("mode_state_template", "", "mode"),
    "action_topic": ("action_template", "hvac_action", "action"),
    "current_temperature_topic": ("current_temperature_template", "current_temperature",
                                  "temp"),
    "temperature_state_topic": ("temperature_state_template", "temperature", "temp"),
    "temperature_low_state_topic": ("temperature_low_state_template", "target_temp_low",
                                    "temp"),
    "temperature_high_state_topic": ("temperature_high_state_template", "target_temp_high",
                                     "temp"),
    "current_humidity_topic": ("current_humidity_template", "current_humidity", "float"),
    "target_humidity_state_topic": ("target_humidity_state_template", "humidity", "float"),
    "fan_mode_state_topic": ("fan_mode_state_template", "fan_mode", "fan_modes"),
    "swing_mode_state_topic": ("swing_mode_state_template", "swing_mode", "swing_modes"),
    "preset_mode_state_topic": ("preset_mode_value_template", "preset_mode", "preset"),
    "swing_horizontal_mode_state_topic": ("swing_horizontal_mode_state_template",
                                          "swing_horizontal_mode", "swing_horizontal_modes"),
}
# setpoint -> (its state topic, command topic, command template)
SETPOINTS: dict[str, tuple[str, str, str]] = {
    "temperature": ("temperature_state_topic", "temperature_command_topic",
                    "temperature_command_template"),
    "target_temp_low": ("temperature_low_state_topic", "temperature_low_command_topic",
                        "temperature_low_command_template"),
    "target_temp_high": ("temperature_high_state_topic", "temperature_high_command_topic",
                         "temperature_high_command_template"),
}
# mode-like service -> (data key, attribute, list attribute, state topic, command topic, template)
MODE_SERVICES: dict[str, tuple[str, str, str, str, str, str]] = {
    "set_fan_mode": ("fan_mode", "fan_mode", "fan_modes", "fan_mode_state_topic",
                     "fan_mode_command_topic", "fan_mode_command_template"),
    "set_swing_mode": ("swing_mode", "swing_mode", "swing_modes", "swing_mode_state_topic",
                       "swing_mode_command_topic", "swing_mode_command_template"),
    "set_swing_horizontal_mode": ("swing_horizontal_mode", "swing_horizontal_mode",
                                  "swing_horizontal_modes", "swing_horizontal_mode_state_topic",
                                  "swing_horizontal_mode_command_topic",
                                  "swing_horizontal_mode_command_template"),
    "set_preset_mode": ("preset_mode", "preset_mode", "preset_modes", "preset_mode_state_topic",
                        "preset_mode_command_topic", "preset_mode_command_template"),
}
# state kinds read as one of a mode list ("None" resets)
LISTED_MODES = ("fan_modes", "swing_modes", "swing_horizontal_modes")


class ClimateSchema(TemperatureSchema):
    NOT_INHERITED = frozenset({"state_topic", "command_topic"})  # a topic per feature
    DEFAULTS = {"payload_on": "ON", "payload_off": "OFF"}

    action_topic: SubTopic = None
    current_temperature_topic: SubTopic = None
    current_humidity_topic: SubTopic = None
    mode_state_topic: SubTopic = None
    temperature_state_topic: SubTopic = None
    temperature_low_state_topic: SubTopic = None
    temperature_high_state_topic: SubTopic = None
    target_humidity_state_topic: SubTopic = None
    fan_mode_state_topic: SubTopic = None
    swing_mode_state_topic: SubTopic = None
    swing_horizontal_mode_state_topic: SubTopic = None
    preset_mode_state_topic: SubTopic = None
    mode_command_topic: PubTopic = None
    power_command_topic: PubTopic = None
    temperature_command_topic: PubTopic = None
    temperature_low_command_topic: PubTopic = None
    temperature_high_command_topic: PubTopic = None
    target_humidity_command_topic: PubTopic = None
    fan_mode_command_topic: PubTopic = None
    swing_mode_command_topic: PubTopic = None
    swing_horizontal_mode_command_topic: PubTopic = None
    preset_mode_command_topic: PubTopic = None
    modes: StrList = Field(default_factory=lambda: ["auto", "off", "cool", "heat", "dry",
                                                   "fan_only"])
    fan_modes: StrList = Field(default_factory=lambda: ["auto", "low", "medium", "high"])
    swing_modes: StrList = Field(default_factory=lambda: ["on", "off"])
    swing_horizontal_modes: StrList = Field(default_factory=lambda: ["on", "off"])
    preset_modes: StrList = Field(default_factory=list)
    min_temp: float | None = None
    max_temp: float | None = None
    temp_step: float = Field(1.0, gt=0)
    initial: float | None = None
    min_humidity: float = Field(30.0, ge=0)
    max_humidity: float = Field(99.0, ge=0)

    @model_validator(mode="after")
    def _rules(self) -> ClimateSchema:
        if "none" in self.preset_modes:
            raise ValueError("preset_modes must not include preset mode 'none'")
        if ("preset_mode_command_topic" in self.raw) != ("preset_modes" in self.raw):
            raise ValueError("'preset_mode_command_topic' and 'preset_modes' must be set "
                             "together")
        if self.min_humidity >= self.max_humidity:
            raise ValueError("max_humidity must be > min_humidity")
        if self.max_humidity > 100:
            raise ValueError("max_humidity must be <= 100")
        if self.target_humidity_state_topic and not self.target_humidity_command_topic:
            raise ValueError("target_humidity_state_topic cannot be used without "
                             "target_humidity_command_topic")
        return self

    # ---- what HA derives from the config ---------------------------------------------------
    def degrees(self, celsius: float) -> float:
        return celsius * 9 / 5 + 32 if self.fahrenheit else celsius

    def supports(self, feature: str) -> bool:
        if feature in SETPOINTS:
            state, command, _ = SETPOINTS[feature]
            if feature == "temperature":
                return bool(getattr(self, state) or getattr(self, command))
            return any(getattr(self, SETPOINTS[k][i]) for k in ("target_temp_low",
                       "target_temp_high") for i in (0, 1))
        if feature == "humidity":
            return self.target_humidity_command_topic is not None
        if feature == "preset_mode":
            return self.preset_mode_command_topic is not None
        state_topic = f"{feature}_state_topic"
        return bool(getattr(self, state_topic) or getattr(self, f"{feature}_command_topic"))

    @property
    def preset_list(self) -> list[str]:
        if not self.preset_mode_command_topic:
            return []
        return ["none", *self.preset_modes] if self.preset_modes else []


def _schema(entity: Entity) -> ClimateSchema:
    return spec_of(entity, ClimateSchema)


class Climate(Platform):
    name = "climate"
    Schema = ClimateSchema
    services = ("set_hvac_mode", "set_temperature", "set_humidity", "set_fan_mode",
                "set_swing_mode", "set_swing_horizontal_mode", "set_preset_mode", "turn_on",
                "turn_off", "toggle")
    state_topics = tuple(TOPICS)
    state_attributes = True
    blocked_attributes = frozenset({
        "fan_modes", "hvac_modes", "max_humidity", "max_temp", "min_humidity", "min_temp",
        "preset_modes", "swing_modes", "swing_horizontal_modes", "target_temp_step",
        "current_humidity", "current_temperature", "fan_mode", "hvac_action", "preset_mode",
        "swing_mode", "swing_horizontal_mode", "humidity", "temperature", "target_temp_high",
        "target_temp_low"})
    control = Control("group", parts=(
        Control("select", service="set_hvac_mode", field="hvac_mode", options="hvac_modes"),
        Control("number", service="set_temperature", field="temperature", value="temperature",
                bounds=("min_temp", "max_temp", "target_temp_step"),
                needs="temperature_command_topic"),
    ))
    # "set the thermostat to twenty one degrees" (HA's HassClimateSetTemperature), on / off
    words = Words(listed=True, switchable=True, setter="number", level=Level(
        "set_temperature", "temperature", unit="°C", min=7.0, max=35.0, step=0.5,
        min_attr="min_temp", max_attr="max_temp", step_attr="target_temp_step",
        noun="temperature"))

    # ---- state -----------------------------------------------------------------------------
    def initial(self, entity: Entity) -> str | None:
        spec = _schema(entity)
        attrs = entity.attributes
        attrs["hvac_modes"] = list(spec.modes)
        precision = spec.shown_precision
        low = spec.min_temp if spec.min_temp is not None else spec.degrees(7)
        high = spec.max_temp if spec.max_temp is not None else spec.degrees(35)
        attrs["min_temp"] = show_temp(low, precision)
        attrs["max_temp"] = show_temp(high, precision)
        attrs["target_temp_step"] = spec.temp_step
        attrs.setdefault("current_temperature", None)
        start = spec.initial if spec.initial is not None else spec.degrees(21)
        for key, (state_topic, _, _) in SETPOINTS.items():
            if not spec.supports(key):
                attrs.pop(key, None)
            elif spec.optimistic_for(state_topic):
                attrs[key] = show_temp(start, precision)
            else:
                attrs.setdefault(key, None)
        for feature, first, values in (("fan_mode", "low", spec.fan_modes),
                                       ("swing_mode", "off", spec.swing_modes),
                                       ("swing_horizontal_mode", "off",
                                        spec.swing_horizontal_modes)):
            if spec.supports(feature):
                attrs[f"{feature}s"] = list(values)
                if spec.optimistic_for(f"{feature}_state_topic"):
                    attrs[feature] = first
                else:
                    attrs.setdefault(feature, None)
        if spec.supports("preset_mode"):
            attrs["preset_modes"] = spec.preset_list
            attrs.setdefault("preset_mode", "none")
        if spec.supports("humidity"):
            attrs["min_humidity"], attrs["max_humidity"] = spec.min_humidity, spec.max_humidity
            attrs.setdefault("humidity", None)
        if spec.optimistic_for("mode_state_topic"):
            return "off"
        return None

    def state(self, entity: Entity, payload: bytes) -> Any:
        return IGNORE  # HA's climate has no state_topic: the mode has its own

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        spec = _schema(entity)
        template, attribute, kind = TOPICS[key]
        value = render_topic(entity, template, payload)
        what = f"{entity.entity_id} {attribute or 'mode'}"
        attrs = entity.attributes
        if kind == "mode":
            if value == "None":
                return None
            if value not in spec.modes:
                raise PayloadError(f"{what}: {value[:40]!r} is not one of its modes")
            return value
        if kind == "preset":
            if value in ("none", "None"):
                attrs["preset_mode"] = "none"
            elif value:
                if value not in spec.preset_list:
                    raise PayloadError(f"{what}: {value[:40]!r} is not a preset mode")
                attrs["preset_mode"] = value
            return IGNORE
        if kind in LISTED_MODES:
            if value == "None":
                attrs[attribute] = None
            elif value not in getattr(spec, kind):
                raise PayloadError(f"{what}: {value[:40]!r} is not one of its {kind}")
            else:
                attrs[attribute] = value
            return IGNORE
        if not value:
            return IGNORE
        if kind == "action":
            if value == "None":
                attrs.pop("hvac_action", None)
            elif value not in ACTIONS:
                raise PayloadError(f"{what}: {value[:40]!r} is not an hvac action")
            else:
                attrs["hvac_action"] = value
            return IGNORE
        parsed = None if value == "None" else number(value, what)
        if kind == "temp":
            attrs[attribute] = show_temp(parsed, spec.shown_precision)
        elif parsed is None and attribute == "current_humidity":
            attrs.pop(attribute, None)
        else:
            attrs[attribute] = parsed
        return IGNORE

    # ---- services --------------------------------------------------------------------------
    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        spec = _schema(entity)
        if service == "toggle":
            service = "turn_on" if entity.state == "off" else "turn_off"
        if service == "set_hvac_mode":
            mode = data_option(data, "hvac_mode", service, spec.modes)
            return parts_order(entity, [self._mode(spec, mode)], mode)
        if service == "set_temperature":
            return self._set_temperature(entity, data)
        if service == "set_humidity":
            needs(entity, "target_humidity_command_topic", service)
            humidity = int(data_float(data, "humidity", service, spec.min_humidity,
                                      spec.max_humidity))
            return parts_order(entity, [(
                Publish("target_humidity_command_topic", humidity,
                        "target_humidity_command_template"),
                spec.optimistic_for("target_humidity_state_topic"), {"humidity": humidity})])
        if service in MODE_SERVICES:
            key, attribute, values, state_topic, command_topic, template = MODE_SERVICES[service]
            feature = key if key != "preset_mode" else "preset_mode"
            if not spec.supports(feature):
                raise ServiceError(f"{entity.entity_id} cannot {service}: its config has no "
                                   f"{command_topic}")
            options = spec.preset_list if key == "preset_mode" else getattr(spec, values)
            value = data_option(data, key, service, options)
            return parts_order(entity, [(Publish(command_topic, value, template),
                                          spec.optimistic_for(state_topic), {attribute: value})])
        if service in ("turn_on", "turn_off"):
            return self._power(entity, service)
        raise self.refuse(entity, service)

    @staticmethod
    def _mode(spec: ClimateSchema, mode: str) -> Part:
        return (Publish("mode_command_topic", mode, "mode_command_template"),
                spec.optimistic_for("mode_state_topic"), {})

    def _set_temperature(self, entity: Entity, data: dict[str, Any]) -> Order:
        spec = _schema(entity)
        service = "set_temperature"
        if not any(data.get(k) is not None for k in (*SETPOINTS, "hvac_mode")):
            raise ServiceError(f"{service} needs temperature, or target_temp_low and "
                               "target_temp_high")
        if (data.get("target_temp_low") is None) != (data.get("target_temp_high") is None):
            raise ServiceError(f"{service}: target_temp_low and target_temp_high go together")
        attrs = entity.attributes
        low, high = attrs.get("min_temp"), attrs.get("max_temp")
        parts: list[Part] = []
        mode = None
        if data.get("hvac_mode") is not None:
            mode = data_option(data, "hvac_mode", service, spec.modes)
            parts.append(self._mode(spec, mode))
        values: dict[str, float] = {}
        for key in SETPOINTS:
            if data.get(key) is not None:
                values[key] = data_float(data, key, service, low, high)
        if "target_temp_low" in values and values["target_temp_low"] > values["target_temp_high"]:
            raise ServiceError(f"{service}: target_temp_low is above target_temp_high")
        for key, value in values.items():
            state_topic, command_topic, template = SETPOINTS[key]
            parts.append((Publish(command_topic, value, template), spec.optimistic_for(
                state_topic), {key: show_temp(value, spec.shown_precision)}))
        return parts_order(entity, parts, mode)

    def _power(self, entity: Entity, service: str) -> Order:
        spec = _schema(entity)
        if spec.power_command_topic:
            on = service == "turn_on"
            payload = spec.payload_on if on else spec.payload_off
            publish = Publish("power_command_topic", payload, "power_command_template")
            optimistic = bool(spec.optimistic) and not on  # HA: only turn_off, only optimistic
            return Order(str(payload), "off" if optimistic else None, publishes=(publish,),
                         optimistic=optimistic)
        if service == "turn_off":
            if "off" not in spec.modes:
                raise ServiceError(f"{entity.entity_id} has no off mode")
            return parts_order(entity, [self._mode(spec, "off")], "off")
        for mode in ("heat_cool", "heat", "cool"):
            if mode in spec.modes:
                return parts_order(entity, [self._mode(spec, mode)], mode)
        raise ServiceError(f"{entity.entity_id} has no power_command_topic and no heat_cool, "
                           "heat or cool mode to turn on")


