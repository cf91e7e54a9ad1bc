"""The JSON MQTT light schema, as HA 2025.4's ``mqtt/light/schema_json.py`` (colour modes from
``supported_color_modes``; the legacy ``color_mode: false`` handling is gone since HA 2025.3)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import orjson

from spark.core.errors import PayloadError
from spark.core.platforms import _color as color
from spark.core.platforms._light_data import WITH_BRIGHTNESS, LightInfo, attributes, refresh
from spark.core.platforms.base import IGNORE, Entity, Order, Publish

if TYPE_CHECKING:
    from spark.core.platforms.base import Platform

MAX_TEMP = 1_000_000  # a colour temperature (mireds or kelvin) above this is not a light's
_CHANNELS = {"rgb": "rgb", "rgbw": "rgbw", "rgbww": "rgbcw"}  # mode -> keys of "color"


def _int(value: Any, low: float = 0, high: float = 255) -> int:
    number = _float(value, low, high)
    return int(number) if isinstance(value, int | float) else int(value)


def _float(value: Any, low: float, high: float) -> float:
    """A finite number in ``low..high`` (a device's 1e308 or -1 would overflow or corrupt the
    colour arithmetic of every later state and command); ValueError / TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    number = float(value)  # OverflowError for an int of 400 digits (a ValueError's cousin)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(value)
    return number


def _update_color(info: LightInfo, memo: dict[str, Any], values: dict[str, Any]) -> None:
    """HA's ``_update_color``: a mode the light does not support, or an incomplete colour, is
    ignored (HA logs a warning)."""
    mode = values["color_mode"]
    if not isinstance(mode, str) or mode not in info.modes:
        return
    col = values.get("color")
    try:
        if mode == "color_temp":
            temp = _int(values["color_temp"], 1, MAX_TEMP)
            memo["color_temp_kelvin"] = temp if info.kelvin else color.mired_to_kelvin(temp)
        elif mode == "hs":
            memo["hs_color"] = [_float(col["h"], 0, 360),  # type: ignore[index]
                                _float(col["s"], 0, 100)]  # type: ignore[index]
        elif mode in _CHANNELS:
            memo[f"{mode}_color"] = [_int(col[c]) for c in _CHANNELS[mode]]  # type: ignore[index]
        elif mode == "xy":
            memo["xy_color"] = [_float(col["x"], 0, 1),  # type: ignore[index]
                                _float(col["y"], 0, 1)]  # type: ignore[index]
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return  # (HA logs a warning and keeps the colour)
    memo["color_mode"] = mode


def state(platform: Platform, entity: Entity, info: LightInfo, payload: bytes) -> Any:
    try:
        values = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise PayloadError(f"{entity.entity_id}: JSON light payload is not JSON") from None
    if not isinstance(values, dict):
        raise PayloadError(f"{entity.entity_id}: JSON light payload is not an object")
    if "state" not in values:
        raise PayloadError(f"{entity.entity_id}: JSON light payload has no 'state'")
    new: Any = IGNORE
    if values["state"] == "ON":
        new = "on"
    elif values["state"] == "OFF":
        new = "off"
    elif values["state"] is None:
        new = None
    memo = entity.memo
    if "color_mode" in values:
        _update_color(info, memo, values)
    level = values.get("brightness")
    if (info.modes & WITH_BRIGHTNESS and isinstance(level, int | float)
            and not isinstance(level, bool) and math.isfinite(level) and level):
        memo["brightness"] = color.value_to_brightness(
            info.brightness_scale, max(0, min(level, info.brightness_scale)))
    # (anything else: HA logs "Invalid brightness value" and keeps the brightness)
    if (info.effect or info.flash or info.transition) and "effect" in values:
        effect = values["effect"]  # (HA tests ``supported_features and EFFECT``: any feature)
        memo["effect"] = effect if effect is None or isinstance(effect, str) else str(effect)
    refresh(entity, info, entity.state if new is IGNORE else new)
    return new


def _flash_transition(info: LightInfo, message: dict[str, Any], params: dict[str, Any],
                      spec: Any) -> None:
    if "transition" in params:
        message["transition"] = params["transition"]
    if "flash" in params:
        message["flash"] = (spec.flash_time_long if params["flash"] == "long"
                            else spec.flash_time_short)


def _scale(info: LightInfo, spec: Any, channels: tuple[int, ...], params: dict[str, Any]
           ) -> list[int]:
    level = 255 if spec.brightness else params.pop("brightness", 255)
    return [round(c / 255 * level) for c in channels]


def turn_on(entity: Entity, info: LightInfo, params: dict[str, Any]) -> Order:
    spec = entity.spec
    new: dict[str, Any] = {}
    message: dict[str, Any] = {"state": "ON"}
    modes = info.modes
    if "hs_color" in params and "hs" in modes:
        hs = params["hs_color"]
        message["color"] = {"h": hs[0], "s": hs[1]}
        new.update(color_mode="hs", hs_color=list(hs))
    for key, mode in (("rgb_color", "rgb"), ("rgbw_color", "rgbw"), ("rgbww_color", "rgbww")):
        if key in params and mode in modes:
            scaled = _scale(info, spec, params[key], params)
            message["color"] = dict(zip(_CHANNELS[mode], scaled, strict=True))
            new.update({"color_mode": mode, key: scaled})
    if "xy_color" in params and "xy" in modes:
        xy = params["xy_color"]
        message["color"] = {"x": xy[0], "y": xy[1]}
        new.update(color_mode="xy", xy_color=list(xy))
    _flash_transition(info, message, params, spec)
    if "brightness" in params and modes & WITH_BRIGHTNESS:
        device = color.brightness_to_value(info.brightness_scale, params["brightness"])
        message["brightness"] = max(round(device), 1)
        new["brightness"] = params["brightness"]
    if "color_temp_kelvin" in params:
        kelvin = params["color_temp_kelvin"]
        message["color_temp"] = kelvin if info.kelvin else color.kelvin_to_mired(kelvin)
        new.update(color_mode="color_temp", color_temp_kelvin=kelvin, hs_color=None)
    if "effect" in params:
        message["effect"] = params["effect"]
        new["effect"] = params["effect"]
    if "white" in params and "white" in modes:
        top = info.white_scale
        message["white"] = max(min(round(params["white"] / 255 * top), top), 1)
        new.update(color_mode="white", brightness=params["white"])
    payload = orjson.dumps(message).decode()
    if not info.optimistic:
        new = {}
    state = "on" if info.optimistic else entity.state
    return Order(payload, "on", publishes=(Publish("command_topic", payload),),
                 assume=attributes(info, {**entity.memo, **new}, state == "on"), memo=new)


def turn_off(entity: Entity, info: LightInfo, params: dict[str, Any]) -> Order:
    message: dict[str, Any] = {"state": "OFF"}
    _flash_transition(info, message, params, entity.spec)
    payload = orjson.dumps(message).decode()
    state = "off" if info.optimistic else entity.state
    return Order(payload, "off", publishes=(Publish("command_topic", payload),),
                 assume=attributes(info, entity.memo, state == "on"))
