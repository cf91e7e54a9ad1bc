"""``light``, with Home Assistant's MQTT light semantics, all three schemas: HA 2025.x as of
2025.4 and later (the light service layer of 2025.4; the MQTT light as of late 2025, which also
reads ``color_temp_kelvin`` / ``min_kelvin`` / ``max_kelvin`` in the basic schema; the mireds
attributes ``color_temp``, ``min_mireds``, ``max_mireds`` that HA 2026.1 dropped are reported).
Checked case by case against HA's ``tests/components/mqtt/test_light*.py`` (tests/light_cases/).

- ``schema: basic`` (the default; ``_light_basic.py``): one topic per attribute (``command_topic``
  ON/OFF, ``brightness_command_topic`` scaled by ``brightness_scale``, ``color_temp_command_topic``
  in mireds, ``hs``/``rgb``/``rgbw``/``rgbww``/``xy``/``white``/``effect`` topics, each with its
  command template), published in HA's order, ``on_command_type`` first / last / brightness (a
  Tasmota dimmer gets only its ``Dimmer`` value); state from ``state_topic`` and the matching
  ``*_state_topic`` s; each attribute is optimistic when its own state topic is absent.
- ``schema: json`` (``_light_json.py``): one JSON command and state (``supported_color_modes``,
  ``brightness_scale``, ``color_temp_kelvin``, ``flash_time_*``, transition).
- ``schema: template`` (``_light_template.py``): ``command_on_template`` /
  ``command_off_template`` rendered with ``state``, ``brightness``, ``color_temp``, ``red`` /
  ``green`` / ``blue`` / ``hue`` / ``sat``, ``effect``, ``flash``, ``transition``; state through
  ``state_template``, ``brightness_template`` ...

Service data is HA's ``light.turn_on`` data, preprocessed as HA does (``brightness_pct``,
``brightness_step(_pct)``, ``color_temp`` in mireds, ``color_name`` (CSS3 names in
``_color_names.py``; unknown: white), colour conversion to a mode the light supports, ``white``,
brightness 0 = off; a colour temperature outside the light's range is sent as is, as HA does)
and then filtered to what the light supports. State attributes are HA's: ``brightness``
(0..255), ``color_mode``, ``color_temp_kelvin`` and ``color_temp`` (mireds), ``hs_color``,
``rgb_color``, ``xy_color`` (converted from the mode's colour, HA's formulas in ``_color.py``),
``rgbw_color``, ``rgbww_color``, ``effect``; capabilities ``supported_color_modes``,
``min``/``max_color_temp_kelvin``, ``min``/``max_mireds``, ``effect_list``,
``supported_features``, ``assumed_state`` (optimistic); the state ones ``None`` while off. What
the light remembers while off (its brightness, colour) is kept in the entity's ``memo``.
Not followed: restoring an optimistic light's state after a hub restart.
"""

from __future__ import annotations

from typing import Any

from spark.core.errors import ServiceError
from spark.core.platforms import _color as color
from spark.core.platforms import _light_basic as basic
from spark.core.platforms import _light_json as jsonschema
from spark.core.platforms import _light_template as template
from spark.core.platforms._families import spec_of
from spark.core.platforms._light_data import (
    LightInfo,
    attributes,
    check_data,
    light_info,
    refresh,
    turn_on_params,
)
from spark.core.platforms._light_schema import COLOR_MODES, LightSchema
from spark.core.platforms.base import IGNORE, Control, Entity, Level, Order, Platform, Words

__all__ = ["COLOR_MODES", "Light", "LightInfo", "LightSchema", "attributes", "color"]


def _schema(entity: Entity) -> LightSchema:
    return spec_of(entity, LightSchema)


_MODULES = {"basic": basic, "json": jsonschema, "template": template}


class Light(Platform):
    name = "light"
    Schema = LightSchema
    services = ("turn_on", "turn_off", "toggle")
    state_topics = basic.STATE_TOPICS
    state_attributes = True
    # HA's MQTT_LIGHT_ATTRIBUTES_BLOCKED (and the entity attributes we set): json_attributes
    # may not overwrite them
    blocked_attributes = frozenset({
        "color_mode", "brightness", "color_temp", "color_temp_kelvin", "effect", "effect_list",
        "hs_color", "max_color_temp_kelvin", "max_mireds", "min_color_temp_kelvin",
        "min_mireds", "rgb_color", "rgbw_color", "rgbww_color", "supported_color_modes",
        "xy_color", "supported_features", "assumed_state"})
    control = Control("light")
    # HA's HassLightSet: "set the lamp brightness to fifty percent" (brightness_pct)
    words = Words(listed=True, switchable=True, area_noun=True, setter="number",
                  level=Level("turn_on", "brightness_pct", min=1.0, noun="brightness"),
                  ha_domains=("sensor",))

    def __init__(self) -> None:
        # Equal LightInfos are one object (4,096 bulbs of one model share theirs): bounded.
        self._infos: dict[LightInfo, LightInfo] = {}

    def info(self, entity: Entity) -> LightInfo:
        """What the config says the light can do (cached in the entity's memo per config)."""
        memo = entity.memo
        spec = _schema(entity)
        cached = memo.get("_info")
        if cached is not None and cached[0] is spec:
            return cached[1]  # type: ignore[no-any-return]
        info = light_info(spec)
        if len(self._infos) < 4096:
            info = self._infos.setdefault(info, info)
        memo["_info"] = (spec, info)
        return info

    def initial(self, entity: Entity) -> str | None:
        """The capability attributes HA shows before any state (the state stays as it is)."""
        refresh(entity, self.info(entity), entity.state)
        return None

    def state(self, entity: Entity, payload: bytes) -> Any:
        info = self.info(entity)
        return _MODULES[info.schema].state(self, entity, info, payload)

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        info = self.info(entity)
        if info.schema != "basic":
            return IGNORE  # HA drops these keys from json / template configs
        return basic.topic_state(self, entity, info, key, payload)

    def optimistic(self, entity: Entity) -> bool:
        return self.info(entity).optimistic

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in self.services:
            raise self.refuse(entity, service)
        if not isinstance(data, dict):
            raise ServiceError(f"{service} data for {entity.entity_id} must be a mapping")
        info = self.info(entity)
        module = _MODULES[info.schema]
        if service == "toggle":
            service = "turn_off" if entity.state == "on" else "turn_on"
        if service == "turn_off":
            return module.turn_off(entity, info, turn_off_params(entity, info, data))
        params = turn_on_params(entity, info, data)
        if params.get("brightness") == 0 or params.get("white") == 0:
            return module.turn_off(entity, info, turn_off_params(entity, info, {
                k: v for k, v in data.items() if k in ("transition", "flash")}))
        return module.turn_on(entity, info, params)


def turn_off_params(entity: Entity, info: LightInfo, data: dict[str, Any]) -> dict[str, Any]:
    """``light.turn_off`` data (transition, flash) without what the light does not support."""
    params = check_data(entity, data, allowed=("transition", "flash"))
    if not info.transition:
        params.pop("transition", None)
    if not info.flash:
        params.pop("flash", None)
    return params
