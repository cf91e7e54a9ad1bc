"""The basic (default) MQTT light schema, as HA 2025.4's ``mqtt/light/schema_basic.py``: one
topic per attribute, each attribute optimistic when its own state topic is absent."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms import _color as color
from spark.core.platforms._light_data import LightInfo, attributes, refresh
from spark.core.platforms._light_schema import COLOR_MODES
from spark.core.platforms.base import IGNORE, Entity, Order, Publish

if TYPE_CHECKING:
    from spark.core.platforms.base import Platform

STATE_TOPICS = ("brightness_state_topic", "rgb_state_topic", "rgbw_state_topic",
                "rgbww_state_topic", "color_mode_state_topic", "color_temp_state_topic",
                "effect_state_topic", "hs_state_topic", "xy_state_topic")
_VALUE_TEMPLATE = {  # state topic -> its value template
    "brightness_state_topic": "brightness_value_template",
    "rgb_state_topic": "rgb_value_template",
    "rgbw_state_topic": "rgbw_value_template",
    "rgbww_state_topic": "rgbww_value_template",
    "color_mode_state_topic": "color_mode_value_template",
    "color_temp_state_topic": "color_temp_value_template",
    "effect_state_topic": "effect_value_template",
    "hs_state_topic": "hs_value_template",
    "xy_state_topic": "xy_value_template",
}
_RGBX = {"rgb_state_topic": ("rgb", 3), "rgbw_state_topic": ("rgbw", 4),
         "rgbww_state_topic": ("rgbww", 5)}


def state(platform: Platform, entity: Entity, info: LightInfo, payload: bytes) -> Any:
    # (HA's basic light has no value_template: only state_value_template applies)
    value = platform.render_key(entity, "state_value_template", payload)
    spec = entity.spec
    new: Any = IGNORE
    if not value:
        pass  # HA: an empty state is ignored
    elif value == spec.payload_on:
        new = "on"
    elif value == spec.payload_off:
        new = "off"
    elif value == "None":
        new = None
    refresh(entity, info, entity.state if new is IGNORE else new)
    return new


def _floats(entity: Entity, text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",", 2))
    except ValueError:
        raise PayloadError(f"{entity.entity_id}: {what} {text[:40]!r} is not numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise PayloadError(f"{entity.entity_id}: {what} {text[:40]!r} is not finite")
    return values


def topic_state(platform: Platform, entity: Entity, info: LightInfo, key: str,
                payload: bytes) -> Any:
    """A message on one of the attribute state topics: the light's memo, then its attributes."""
    value = platform.render_key(entity, _VALUE_TEMPLATE[key], payload)
    if not value:
        return IGNORE  # HA: an empty value is ignored
    memo = entity.memo
    mode_follows = info.is_optimistic("color_mode")
    if key == "brightness_state_topic":
        (level,) = _floats(entity, value, "brightness")[:1]
        if level < 0:
            raise PayloadError(f"{entity.entity_id}: brightness {value[:40]!r} is negative")
        if level == 0:
            return IGNORE
        memo["brightness"] = min(round(level / info.brightness_scale * 255), 255)
    elif key in _RGBX:
        mode, size = _RGBX[key]
        try:
            channels = tuple(int(v) for v in value.split(","))
        except ValueError:
            raise PayloadError(f"{entity.entity_id}: {mode} {value[:40]!r} is not "
                               "integers") from None
        if len(channels) != size or not all(0 <= c <= 255 for c in channels):
            raise PayloadError(f"{entity.entity_id}: {mode} {value[:40]!r} is not {size} "
                               "values 0..255")
        if mode_follows:
            memo["color_mode"] = mode
        if not entity.spec.raw.get("brightness_state_topic"):
            if mode == "rgb":
                rgb: tuple[int, ...] = channels
            elif mode == "rgbw":
                rgb = color.rgbw_to_rgb(channels)
            else:
                rgb = color.rgbww_to_rgb(channels, info.min_kelvin, info.max_kelvin)
            level = max(rgb)
            if level == 0:
                refresh(entity, info, entity.state)
                return IGNORE
            memo["brightness"] = level
            channels = tuple(min(round(c / level * 255), 255) for c in channels)
        memo[f"{mode}_color"] = list(channels)
    elif key == "color_mode_state_topic":
        if value not in COLOR_MODES and value != "unknown":
            raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is not a colour mode")
        memo["color_mode"] = value
    elif key == "color_temp_state_topic":
        try:
            temp = int(value)
        except ValueError:
            raise PayloadError(f"{entity.entity_id}: colour temperature {value[:40]!r} is not "
                               "an integer") from None
        if temp <= 0:
            raise PayloadError(f"{entity.entity_id}: colour temperature {temp} is not positive")
        if mode_follows:
            memo["color_mode"] = "color_temp"
        memo["color_temp_kelvin"] = temp if info.kelvin else color.mired_to_kelvin(temp)
    elif key == "effect_state_topic":
        memo["effect"] = value
    elif key == "hs_state_topic":
        try:
            hs = tuple(float(v) for v in value.split(",", 2))
        except ValueError:
            return IGNORE  # HA: "Failed to parse hs state update", nothing changes
        if len(hs) != 2 or not all(math.isfinite(v) for v in hs):
            return IGNORE
        if mode_follows:
            memo["color_mode"] = "hs"
        memo["hs_color"] = list(hs)
    elif key == "xy_state_topic":
        xy = _floats(entity, value, "xy colour")
        if len(xy) != 2:
            raise PayloadError(f"{entity.entity_id}: xy colour {value[:40]!r} is not 2 values")
        if mode_follows:
            memo["color_mode"] = "xy"
        memo["xy_color"] = list(xy)
    refresh(entity, info, entity.state)
    return IGNORE


# ---- commands -------------------------------------------------------------------------------
def turn_on(entity: Entity, info: LightInfo, params: dict[str, Any]) -> Order:
    spec = entity.spec
    raw = spec.raw
    memo = entity.memo
    new: dict[str, Any] = {}
    pubs: list[Publish] = []

    def remembered(key: str) -> Any:
        return new[key] if key in new else memo.get(key)

    def optimistic(attr: str, value: Any, mode: str | None = None, cond: str | None = None
                   ) -> None:
        if not info.is_optimistic(cond or attr):
            return
        if mode and info.is_optimistic("color_mode"):
            new["color_mode"] = mode
        new[attr] = value

    def scale(channels: tuple[int, ...], level: int | None = None) -> tuple[int, ...]:
        if level is None:
            level = 255 if raw.get("brightness_command_topic") else (
                params.get("brightness") or memo.get("brightness") or 255)
        return tuple(int(c * level / 255) for c in channels)

    def rgbx(topic_key: str, channels: tuple[int, ...]) -> Publish:
        names = ["red", "green", "blue", "white"] if len(channels) == 4 else (
            ["red", "green", "blue", "cold_white", "warm_white"] if len(channels) == 5
            else ["red", "green", "blue"])
        return Publish(topic_key, ",".join(str(c) for c in channels),
                       topic_key.replace("_topic", "_template"),
                       dict(zip(names, channels, strict=True)))

    on_type = raw.get("on_command_type", "last")
    if on_type == "first":
        pubs.append(Publish("command_topic", spec.payload_on))
    elif on_type == "brightness" and "brightness" not in params and "white" not in params:
        params["brightness"] = memo.get("brightness") or 255
    if (hs := params.get("hs_color")) and raw.get("hs_command_topic"):
        pubs.append(Publish("hs_command_topic", f"{hs[0]},{hs[1]}", "hs_command_template",
                            {"hue": hs[0], "sat": hs[1]}))
        optimistic("hs_color", list(hs), "hs")
    for key, mode in (("rgb_color", "rgb"), ("rgbw_color", "rgbw"), ("rgbww_color", "rgbww")):
        if (value := params.get(key)) and raw.get(f"{mode}_command_topic"):
            pubs.append(rgbx(f"{mode}_command_topic", scale(value)))
            optimistic(key, list(value), mode)
    if (xy := params.get("xy_color")) and raw.get("xy_command_topic"):
        pubs.append(Publish("xy_command_topic", f"{xy[0]},{xy[1]}", "xy_command_template",
                            {"x": xy[0], "y": xy[1]}))
        optimistic("xy_color", list(xy), "xy")
    if "brightness" in params:
        level = params["brightness"]
        if raw.get("brightness_command_topic"):
            top = info.brightness_scale
            device = max(min(round(level / 255 * top), top), 1)
            pubs.append(Publish("brightness_command_topic", device,
                                "brightness_command_template"))
            optimistic("brightness", level)
        else:
            for key, mode, size in (("rgb_color", "rgb", 3), ("rgbw_color", "rgbw", 4),
                                    ("rgbww_color", "rgbww", 5)):
                if key not in params and raw.get(f"{mode}_command_topic"):
                    base = tuple(memo.get(key) or (255,) * size)
                    pubs.append(rgbx(f"{mode}_command_topic", scale(base, level)))
                    optimistic("brightness", level)
                    break
    if "color_temp_kelvin" in params and raw.get("color_temp_command_topic"):
        kelvin = params["color_temp_kelvin"]
        pubs.append(Publish("color_temp_command_topic",
                            kelvin if info.kelvin else color.kelvin_to_mired(kelvin),
                            "color_temp_command_template"))
        optimistic("color_temp_kelvin", kelvin, "color_temp")
    if ("effect" in params and raw.get("effect_command_topic") and info.effect_list is not None
            and params["effect"] in info.effect_list):
        pubs.append(Publish("effect_command_topic", params["effect"], "effect_command_template"))
        optimistic("effect", params["effect"])
    if "white" in params and raw.get("white_command_topic"):
        white = params["white"] or 0
        top = info.white_scale
        pubs.append(Publish("white_command_topic", min(round(white / 255 * top), top)))
        optimistic("brightness", white, "white")
    if on_type == "last":
        pubs.append(Publish("command_topic", spec.payload_on))
    if not pubs:
        raise ServiceError(f"{entity.entity_id}: nothing to publish for turn_on with "
                           f"{sorted(params)} (no command topic for it)")
    state = "on" if info.optimistic else entity.state
    after = {**memo, **new}
    return Order(str(pubs[0].value), "on", publishes=tuple(pubs),
                 assume=attributes(info, after, state == "on"), assume_always=True, memo=new)


def turn_off(entity: Entity, info: LightInfo, params: dict[str, Any]) -> Order:
    payload = str(entity.spec.payload_off)
    state = "off" if info.optimistic else entity.state
    return Order(payload, "off", publishes=(Publish("command_topic", payload),),
                 assume=attributes(info, entity.memo, state == "on"), assume_always=True)
