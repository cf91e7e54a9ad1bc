"""The template MQTT light schema, as HA 2025.4's ``mqtt/light/schema_template.py``: commands
are ``command_on_template`` / ``command_off_template`` rendered with the call's values, state is
read from one message by ``state_template``, ``brightness_template``, ``color_temp_template``,
``red``/``green``/``blue_template`` and ``effect_template``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spark.core.errors import PayloadError, TemplateError, TemplateLimitError
from spark.core.platforms import _color as color
from spark.core.platforms._light_data import LightInfo, attributes, refresh
from spark.core.platforms.base import IGNORE, Entity, Order, Publish

if TYPE_CHECKING:
    from spark.core.platforms.base import Platform


def _mode(info: LightInfo, memo: dict[str, Any]) -> None:
    """HA's ``_update_color_mode``: with both, hs wins while there is a colour."""
    if info.initial_mode is None:
        memo["color_mode"] = "hs" if memo.get("hs_color") else "color_temp"


def state(platform: Platform, entity: Entity, info: LightInfo, payload: bytes) -> Any:
    raw = entity.spec.raw
    memo = entity.memo

    def value(key: str) -> str:
        tpl = entity.template(key)
        if tpl is None:
            return ""
        try:
            return tpl.render(payload)
        except TemplateLimitError as exc:
            raise PayloadError(f"{key} of {entity.entity_id}: {exc}") from exc
        except TemplateError:  # HA: a template that fails gives the payload itself
            return payload.decode("utf-8", "replace")

    new: Any = IGNORE
    text = value("state_template")
    if text == "on":
        new = "on"
    elif text == "off":
        new = "off"
    elif text == "None":
        new = None
    if raw.get("brightness_template") and (level := value("brightness_template")):
        try:
            if number := int(level):
                memo["brightness"] = number
        except ValueError:
            pass  # HA: "Invalid brightness value", nothing changes
    if raw.get("color_temp_template") and (temp := value("color_temp_template")):
        try:
            if temp == "None":
                memo["color_temp_kelvin"] = None
            else:
                number = int(temp)
                memo["color_temp_kelvin"] = number if info.kelvin else color.mired_to_kelvin(
                    number)
        except (ValueError, ZeroDivisionError):
            pass
    if all(raw.get(f"{c}_template") for c in ("red", "green", "blue")):
        red, green, blue = (value(f"{c}_template") for c in ("red", "green", "blue"))
        if red and green and blue:
            if red == green == blue == "None":
                memo["hs_color"] = None
                _mode(info, memo)
            else:
                try:
                    channels = (int(red), int(green), int(blue))
                except ValueError:
                    channels = None
                if channels is not None:
                    if not all(0 <= c <= 255 for c in channels):
                        raise PayloadError(f"{entity.entity_id}: colour {channels} is not "
                                           "within 0..255")
                    memo["hs_color"] = list(color.rgb_to_hs(*channels))
                    _mode(info, memo)
    if raw.get("effect_template") and (effect := value("effect_template")):
        if info.effect_list and effect in info.effect_list:
            memo["effect"] = effect
    refresh(entity, info, entity.state if new is IGNORE else new)
    return new


def turn_on(entity: Entity, info: LightInfo, params: dict[str, Any]) -> Order:
    raw = entity.spec.raw
    memo = entity.memo
    new: dict[str, Any] = {}
    values: dict[str, Any] = {"state": True}
    if "brightness" in params:
        values["brightness"] = int(params["brightness"])
        new["brightness"] = params["brightness"]
    if "color_temp_kelvin" in params:
        kelvin = params["color_temp_kelvin"]
        values["color_temp"] = kelvin if info.kelvin else color.kelvin_to_mired(kelvin)
        new.update(color_temp_kelvin=kelvin, hs_color=None)
    if "hs_color" in params:
        hs = params["hs_color"]
        level: int = 255
        if not raw.get("brightness_template"):
            remembered = memo.get("brightness")
            level = params.get("brightness", remembered if remembered is not None else 255)
        red, green, blue = color.hsv_to_rgb(hs[0], hs[1], level / 255 * 100)
        values.update(red=red, green=green, blue=blue, hue=hs[0], sat=hs[1])
        new.update(color_temp_kelvin=None, hs_color=list(hs))
    if "effect" in params:
        values["effect"] = params["effect"]
        new["effect"] = params["effect"]
    if "flash" in params:
        values["flash"] = params["flash"]
    if "transition" in params:
        values["transition"] = params["transition"]
    if info.optimistic and ("color_temp_kelvin" in params or "hs_color" in params):
        _mode(info, new)
    if not info.optimistic:
        new = {}
    state = "on" if info.optimistic else entity.state
    pub = Publish("command_topic", None, "command_on_template", values)
    return Order("", "on", publishes=(pub,),
                 assume=attributes(info, {**memo, **new}, state == "on"), memo=new)


def turn_off(entity: Entity, info: LightInfo, params: dict[str, Any]) -> Order:
    values: dict[str, Any] = {"state": False}
    if "transition" in params:
        values["transition"] = params["transition"]
    state = "off" if info.optimistic else entity.state
    pub = Publish("command_topic", None, "command_off_template", values)
    return Order("", "off", publishes=(pub,),
                 assume=attributes(info, entity.memo, state == "on"))
