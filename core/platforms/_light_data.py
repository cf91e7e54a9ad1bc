"""What the three light schemas share (HA 2025.4's ``components/light``): what a config says the
light can do (:class:`LightInfo`), the state attributes HA shows for what it remembers
(:func:`attributes`), and ``light.turn_on`` service data checked and preprocessed as HA's service
layer does (:func:`turn_on_params`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from spark.core.errors import ServiceError
from spark.core.platforms import _color as color
from spark.core.platforms._color_names import name_to_rgb
from spark.core.platforms._light_schema import COLOR_MODES, LightSchema

if TYPE_CHECKING:
    from spark.core.platforms.base import Entity
WITH_BRIGHTNESS = frozenset(COLOR_MODES) - {"onoff"}
WITH_COLOR = frozenset({"hs", "xy", "rgb", "rgbw", "rgbww"})
# What the light remembers (the entity's memo), as HA's ``_attr_*``.
REMEMBERED = ("brightness", "color_mode", "color_temp_kelvin", "effect", "hs_color", "rgb_color",
              "rgbw_color", "rgbww_color", "xy_color")


@dataclass(frozen=True, slots=True)
class LightInfo:
    schema: str
    modes: frozenset[str]
    initial_mode: str | None
    min_kelvin: int
    max_kelvin: int
    effect: bool  # HA's LightEntityFeature.EFFECT
    effect_list: tuple[str, ...] | None
    flash: bool
    transition: bool
    optimistic: bool  # the on/off state
    optimistic_attrs: frozenset[str]  # basic schema: attributes without a state topic
    brightness_scale: int
    white_scale: int
    kelvin: bool  # json / template: colour temperature in kelvin on the wire
    sorted_modes: tuple[str, ...] = ()  # supported_color_modes as HA lists them

    @property
    def supported_features(self) -> int:
        """HA's ``LightEntityFeature`` flags: EFFECT 4, FLASH 8, TRANSITION 32."""
        return 4 * self.effect + 8 * self.flash + 32 * self.transition

    def is_optimistic(self, attribute: str) -> bool:
        return attribute in self.optimistic_attrs



def _range(spec: LightSchema) -> tuple[int, int]:
    """HA: ``max_mireds`` / ``min_mireds`` first, else ``min_kelvin`` / ``max_kelvin``."""
    low = (color.mired_to_kelvin(spec.max_mireds) if spec.max_mireds
           else spec.min_kelvin or color.DEFAULT_MIN_KELVIN)
    high = (color.mired_to_kelvin(spec.min_mireds) if spec.min_mireds
            else spec.max_kelvin or color.DEFAULT_MAX_KELVIN)
    return low, high


def light_info(spec: LightSchema) -> LightInfo:
    schema = spec.light_schema or "basic"
    forced = bool(spec.optimistic)
    low, high = _range(spec)
    effect_list = tuple(spec.effect_list) if spec.effect_list is not None else None
    opt: set[str] = set()
    if schema == "basic":
        modes, initial = _basic_modes(spec)
        optimistic = forced or not spec.state_topic
        for attr, topic in (("color_mode", spec.color_mode_state_topic),
                            ("rgb_color", spec.rgb_state_topic),
                            ("rgbw_color", spec.rgbw_state_topic),
                            ("rgbww_color", spec.rgbww_state_topic),
                            ("color_temp_kelvin", spec.color_temp_state_topic),
                            ("effect", spec.effect_state_topic),
                            ("hs_color", spec.hs_state_topic),
                            ("xy_color", spec.xy_state_topic)):
            if forced or not topic:
                opt.add(attr)
        if forced or (spec.brightness_command_topic and not spec.brightness_state_topic) or (
                not spec.brightness_command_topic and not spec.rgb_state_topic):
            opt.add("brightness")
        return LightInfo(schema, frozenset(modes), initial, low, high,
                         bool(spec.effect_command_topic), effect_list, False, False, optimistic,
                         frozenset(opt), spec.brightness_scale, spec.white_scale,
                         spec.color_temp_kelvin, tuple(sorted(modes)))
    if schema == "json":
        configured = spec.supported_color_modes
        if configured:
            modes = set(configured)
            initial = next(iter(modes)) if len(modes) == 1 else "unknown"
        else:
            modes = {"brightness"} if spec.brightness else {"onoff"}
            initial = None
        return LightInfo(schema, frozenset(modes), initial, low, high, spec.effect, effect_list,
                         spec.flash, spec.transition, forced or not spec.state_topic,
                         frozenset(), spec.brightness_scale, spec.white_scale,
                         spec.color_temp_kelvin, tuple(sorted(modes)))
    raw = spec.raw
    modes = {"onoff"}
    if raw.get("brightness_template"):
        modes.add("brightness")
    if raw.get("color_temp_template"):
        modes.add("color_temp")
    if all(raw.get(f"{c}_template") for c in ("red", "green", "blue")):
        modes.add("hs")
    if len(modes) > 1:
        modes.discard("onoff")
    if len(modes) > 1:
        modes.discard("brightness")
    initial = next(iter(modes)) if len(modes) == 1 else None
    optimistic = forced or not spec.state_topic or not raw.get("state_template")
    return LightInfo(schema, frozenset(modes), initial, low, high, effect_list is not None,
                     effect_list, True, True, optimistic, frozenset(), 255, 255,
                     spec.color_temp_kelvin, tuple(sorted(modes)))


def _basic_modes(spec: LightSchema) -> tuple[set[str], str | None]:
    modes: set[str] = set()
    initial: str | None = None
    for mode, topic in (("color_temp", spec.color_temp_command_topic),
                        ("hs", spec.hs_command_topic), ("rgb", spec.rgb_command_topic),
                        ("rgbw", spec.rgbw_command_topic), ("rgbww", spec.rgbww_command_topic),
                        ("white", spec.white_command_topic), ("xy", spec.xy_command_topic)):
        if topic:
            modes.add(mode)
            if mode != "white":
                initial = mode
    if len(modes) > 1:
        initial = "unknown"
    if not modes:
        if spec.brightness_command_topic:
            return {"brightness"}, "brightness"
        return {"onoff"}, "onoff"
    return modes, initial


def color_mode(info: LightInfo, memo: dict[str, Any]) -> str | None:
    """The light's colour mode as HA reports it while on."""
    mode = memo.get("color_mode", info.initial_mode)
    if mode is None and len(info.modes) == 1:
        return next(iter(info.modes))
    return mode  # type: ignore[no-any-return]


def _convert(info: LightInfo, mode: str, memo: dict[str, Any]) -> dict[str, Any]:
    """hs / rgb / xy (and the mode's own colour) from the colour of ``mode``."""
    out: dict[str, Any] = {}
    if mode == "hs" and (hs := memo.get("hs_color")):
        out["hs_color"] = [round(hs[0], 3), round(hs[1], 3)]
        out["rgb_color"] = list(color.hs_to_rgb(*hs))
        out["xy_color"] = list(color.hs_to_xy(*hs))
    elif mode == "xy" and (xy := memo.get("xy_color")):
        out["hs_color"] = list(color.xy_to_hs(*xy))
        out["rgb_color"] = list(color.xy_to_rgb(*xy))
        out["xy_color"] = [round(xy[0], 6), round(xy[1], 6)]
    elif mode == "rgb" and (rgb := memo.get("rgb_color")):
        out["hs_color"] = list(color.rgb_to_hs(*rgb))
        out["rgb_color"] = [int(c) for c in rgb[:3]]
        out["xy_color"] = list(color.rgb_to_xy(*rgb))
    elif mode == "rgbw" and (rgbw := memo.get("rgbw_color")):
        rgb = color.rgbw_to_rgb(rgbw)
        out["hs_color"] = list(color.rgb_to_hs(*rgb))
        out["rgb_color"] = [int(c) for c in rgb[:3]]
        out["rgbw_color"] = [int(c) for c in rgbw[:4]]
        out["xy_color"] = list(color.rgb_to_xy(*rgb))
    elif mode == "rgbww" and (rgbww := memo.get("rgbww_color")):
        rgb = color.rgbww_to_rgb(rgbww, info.min_kelvin, info.max_kelvin)
        out["hs_color"] = list(color.rgb_to_hs(*rgb))
        out["rgb_color"] = [int(c) for c in rgb[:3]]
        out["rgbww_color"] = [int(c) for c in rgbww[:5]]
        out["xy_color"] = list(color.rgb_to_xy(*rgb))
    elif mode == "color_temp" and (kelvin := memo.get("color_temp_kelvin")):
        hs = color.kelvin_to_hs(kelvin)
        out["hs_color"] = [round(hs[0], 3), round(hs[1], 3)]
        out["rgb_color"] = list(color.hs_to_rgb(*hs))
        out["xy_color"] = list(color.hs_to_xy(*hs))
    return out


def attributes(info: LightInfo, memo: dict[str, Any], on: bool) -> dict[str, Any]:
    """HA's capability and state attributes of a light (state ones ``None`` while off)."""
    modes = info.modes
    data: dict[str, Any] = {}
    if "color_temp" in modes:
        data["min_color_temp_kelvin"] = info.min_kelvin
        data["max_color_temp_kelvin"] = info.max_kelvin
        data["min_mireds"] = color.kelvin_to_mired(info.max_kelvin)
        data["max_mireds"] = color.kelvin_to_mired(info.min_kelvin)
    if info.effect:
        data["effect_list"] = info.effect_list  # (tuples: one copy, shared by equal lights)
    data["supported_color_modes"] = info.sorted_modes
    data["supported_features"] = info.supported_features
    if info.optimistic:
        data["assumed_state"] = True  # (HA's entity attribute of an optimistic entity)
    mode = color_mode(info, memo) if on else None
    if info.effect:
        data["effect"] = memo.get("effect") if on else None
    data["color_mode"] = mode
    if modes & WITH_BRIGHTNESS:
        data["brightness"] = memo.get("brightness") if mode in WITH_BRIGHTNESS else None
    if "color_temp" in modes:
        kelvin = memo.get("color_temp_kelvin") if mode == "color_temp" else None
        data["color_temp_kelvin"] = kelvin
        data["color_temp"] = color.kelvin_to_mired(kelvin) if kelvin else None
    if modes & WITH_COLOR or "color_temp" in modes:
        data["hs_color"] = data["rgb_color"] = data["xy_color"] = None
        if "rgbw" in modes:
            data["rgbw_color"] = None
        if "rgbww" in modes:
            data["rgbww_color"] = None
        if mode:
            data.update(_convert(info, mode, memo))
    return data


def refresh(entity: Entity, info: LightInfo, state: str | None) -> None:
    """Rewrite the entity's attributes from its memo for ``state`` (in place)."""
    attrs = entity.attributes
    new = attributes(info, entity.memo, state == "on")
    for key in [k for k in attrs if k not in new and k in _OURS]:
        del attrs[key]
    attrs.update(new)


_OURS = frozenset({"min_color_temp_kelvin", "max_color_temp_kelvin", "min_mireds", "max_mireds",
                   "supported_features", "assumed_state",
                   "effect_list", "supported_color_modes", "effect", "color_mode", "brightness",
                   "color_temp_kelvin", "color_temp", "hs_color", "rgb_color", "xy_color",
                   "rgbw_color", "rgbww_color"})


# ---- service data --------------------------------------------------------------------------
def _number(entity: Entity, key: str, value: Any, kind: type, low: float | None = None,
            high: float | None = None, clamp: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ServiceError(f"{key} for {entity.entity_id} must be a number, got {value!r:.40}")
    try:
        real = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        raise ServiceError(f"{key} for {entity.entity_id} must be a number, got "
                           f"{value!r:.40}") from None
    if not math.isfinite(real):
        raise ServiceError(f"{key} for {entity.entity_id} must be finite")
    number = int(real) if kind is int else real
    if clamp:
        return max(low, min(high, number)) if low is not None and high is not None else number
    if (low is not None and number < low) or (high is not None and number > high):
        raise ServiceError(f"{key} for {entity.entity_id} must be within {low}..{high}, "
                           f"got {value!r:.40}")
    return number


def _sequence(entity: Entity, key: str, value: Any, ranges: tuple[tuple[float, float], ...],
              kind: type) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple) or len(value) != len(ranges):
        raise ServiceError(f"{key} for {entity.entity_id} must be a list of {len(ranges)} "
                           f"numbers, got {value!r:.60}")
    return tuple(_number(entity, key, v, kind, lo, hi) for v, (lo, hi) in zip(value, ranges,
                                                                              strict=True))


_BYTE = (0.0, 255.0)
MAX_EFFECT = 255  # characters of a service call's effect (a name from the light's effect_list)
_GROUPS = (("brightness", "brightness_pct", "brightness_step", "brightness_step_pct"),
           ("color_temp_kelvin", "color_temp", "hs_color", "rgb_color", "rgbw_color",
            "rgbww_color", "xy_color", "white", "color_name"))


def check_data(entity: Entity, data: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """HA's ``light.turn_on`` / ``turn_off`` schema: types, ranges, exclusive groups."""
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise ServiceError(f"{entity.entity_id}: unknown light data {unknown!r:.80}; "
                           f"known: {', '.join(allowed)}")
    for group in _GROUPS:
        given = [k for k in group if k in data]
        if len(given) > 1:
            raise ServiceError(f"{entity.entity_id}: {' and '.join(given)} exclude each other")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "brightness":
            out[key] = _number(entity, key, value, int, 0, 255, clamp=True)
        elif key == "brightness_pct":
            out[key] = _number(entity, key, value, float, 0, 100)
        elif key == "brightness_step":
            out[key] = _number(entity, key, value, int, -255, 255, clamp=True)
        elif key == "brightness_step_pct":
            out[key] = _number(entity, key, value, float, -100, 100, clamp=True)
        elif key == "color_temp_kelvin":
            out[key] = _number(entity, key, value, int, 1, 1_000_000)  # 0 K: no mireds
        elif key == "color_temp":
            out[key] = _number(entity, key, value, int, 1, 1_000_000)
        elif key == "hs_color":
            out[key] = _sequence(entity, key, value, ((0, 360), (0, 100)), float)
        elif key in ("rgb_color", "rgbw_color", "rgbww_color"):
            size = {"rgb_color": 3, "rgbw_color": 4, "rgbww_color": 5}[key]
            out[key] = _sequence(entity, key, value, (_BYTE,) * size, int)
        elif key == "xy_color":
            out[key] = _sequence(entity, key, value, ((0, 1), (0, 1)), float)
        elif key == "white":
            out[key] = True if value is True else _number(entity, key, value, int, 0, 255,
                                                          clamp=True)
        elif key == "transition":
            out[key] = _number(entity, key, value, float, 0, 6553, clamp=True)
        elif key == "flash":
            if value not in ("short", "long"):
                raise ServiceError(f"flash for {entity.entity_id} must be 'short' or 'long'")
            out[key] = value
        elif key == "effect":
            if not isinstance(value, str | int | float) or isinstance(value, bool) \
                    or len(text := str(value)) > MAX_EFFECT:
                raise ServiceError(f"effect for {entity.entity_id} must be a string of at "
                                   f"most {MAX_EFFECT} characters")
            out[key] = text
        elif key == "color_name":
            if not isinstance(value, str) or len(value) > 64:
                raise ServiceError(f"color_name for {entity.entity_id} must be a colour name")
            out[key] = value
    return out


TURN_ON_KEYS = ("brightness", "brightness_pct", "brightness_step", "brightness_step_pct",
                "color_temp_kelvin", "color_temp", "hs_color", "rgb_color", "rgbw_color",
                "rgbww_color", "xy_color", "white", "color_name", "effect", "transition",
                "flash")


def turn_on_params(entity: Entity, info: LightInfo, data: dict[str, Any]) -> dict[str, Any]:
    """``light.turn_on`` data as the light's ``turn_on`` sees it in HA (checked, converted to
    what it supports, the rest dropped)."""
    params = check_data(entity, data, TURN_ON_KEYS)
    memo = entity.memo
    on = entity.state == "on"
    if "brightness_step" in params or "brightness_step_pct" in params:
        current: int = memo.get("brightness") or 0 if on else 0
        if "brightness_step" in params:
            current += params.pop("brightness_step")
        else:
            pct = round(current / 255 * 100)
            current = round((pct + params.pop("brightness_step_pct")) / 100 * 255)
        params["brightness"] = max(0, min(255, current))
    if (name := params.pop("color_name", None)) is not None:  # HA: unknown names give white
        params["rgb_color"] = name_to_rgb(name) or (255, 255, 255)
    if (mired := params.pop("color_temp", None)) is not None:
        params["color_temp_kelvin"] = color.mired_to_kelvin(mired)
    if (pct := params.pop("brightness_pct", None)) is not None:
        params["brightness"] = round(255 * pct / 100)
    modes = info.modes
    _convert_color(params, info, memo)
    if params.get("white") is True:
        params["white"] = memo.get("brightness")
    if "white" in params and "white" in modes:
        params["white"] = params.pop("brightness", params["white"])
    if params.get("brightness") == 0 or params.get("white") == 0:
        return params  # the caller turns the light off
    if not info.effect:
        params.pop("effect", None)
    if not info.flash:
        params.pop("flash", None)
    if not info.transition:
        params.pop("transition", None)
    if not modes & WITH_BRIGHTNESS:
        params.pop("brightness", None)
    for key, mode in (("color_temp_kelvin", "color_temp"), ("hs_color", "hs"),
                      ("rgb_color", "rgb"), ("rgbw_color", "rgbw"), ("rgbww_color", "rgbww"),
                      ("white", "white"), ("xy_color", "xy")):
        if mode not in modes:
            params.pop(key, None)
    return params


def _convert_color(params: dict[str, Any], info: LightInfo, memo: dict[str, Any]) -> None:
    """HA: a colour the light does not support is converted to one it does."""
    modes, low, high = info.modes, info.min_kelvin, info.max_kelvin
    if "color_temp_kelvin" in params and "color_temp" not in modes:
        kelvin = params.pop("color_temp_kelvin")
        if "rgbww" in modes:
            bri = params.get("brightness", memo.get("brightness"))
            params["rgbww_color"] = color.kelvin_to_rgbww(kelvin, bri or 0, low, high)
        elif modes & WITH_COLOR and kelvin:
            params["hs_color"] = color.kelvin_to_hs(kelvin)
    rgb: tuple[Any, ...]
    source = next((k for k in ("hs_color", "rgb_color", "xy_color", "rgbw_color", "rgbww_color")
                   if k in params), None)
    own = {"hs_color": "hs", "rgb_color": "rgb", "xy_color": "xy", "rgbw_color": "rgbw",
           "rgbww_color": "rgbww"}
    if source is None or own[source] in modes:
        return
    value = params.pop(source)
    if source == "hs_color":
        rgb = color.hs_to_rgb(*value)
        targets = [("rgb", lambda: rgb), ("rgbw", lambda: color.rgb_to_rgbw(rgb)),
                   ("rgbww", lambda: color.rgb_to_rgbww(rgb, low, high)),
                   ("xy", lambda: color.hs_to_xy(*value)),
                   ("color_temp", lambda: color.xy_to_kelvin(*color.hs_to_xy(*value)))]
    elif source == "xy_color":
        rgb = color.xy_to_rgb(*value)
        targets = [("hs", lambda: color.xy_to_hs(*value)), ("rgb", lambda: rgb),
                   ("rgbw", lambda: color.rgb_to_rgbw(rgb)),
                   ("rgbww", lambda: color.rgb_to_rgbww(rgb, low, high)),
                   ("color_temp", lambda: color.xy_to_kelvin(*value))]
    else:
        if source == "rgb_color":
            rgb = value
        elif source == "rgbw_color":
            rgb = color.rgbw_to_rgb(value)
        else:
            rgb = color.rgbww_to_rgb(value, low, high)
        targets = [("rgb", lambda: tuple(rgb)), ("rgbw", lambda: color.rgb_to_rgbw(rgb)),
                   ("rgbww", lambda: color.rgb_to_rgbww(rgb, low, high)),
                   ("hs", lambda: color.rgb_to_hs(*rgb)), ("xy", lambda: color.rgb_to_xy(*rgb)),
                   ("color_temp", lambda: color.xy_to_kelvin(*color.rgb_to_xy(*rgb)))]
    key_of = {"hs": "hs_color", "rgb": "rgb_color", "rgbw": "rgbw_color",
              "rgbww": "rgbww_color", "xy": "xy_color", "color_temp": "color_temp_kelvin"}
    for mode, make in targets:
        if mode in modes and key_of[mode] != source:
            params[key_of[mode]] = make()
            return
