"""The light's discovery schema: every key of HA's three light schemas (basic, json, template)
with HA's defaults, and the rules HA checks on them."""

from __future__ import annotations

from pydantic import Field, model_validator

from spark.core.discovery.models import OptStr, PubTopic, StrList, SubTopic
from spark.core.platforms.base import OnOffSchema

COLOR_MODES = ("onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white")


class LightSchema(OnOffSchema):
    DEFAULTS = {**OnOffSchema.DEFAULTS, "schema": "basic"}
    REQUIRED = ("command_topic",)

    brightness_scale: int = Field(255, ge=1)
    white_scale: int = Field(255, ge=1)
    on_command_type: str = "last"
    effect_list: StrList | None = None
    supported_color_modes: StrList | None = None
    min_mireds: int | None = Field(None, ge=1)
    max_mireds: int | None = Field(None, ge=1)
    min_kelvin: int | None = Field(None, ge=1)
    max_kelvin: int | None = Field(None, ge=1)
    color_temp_kelvin: bool = False
    brightness: bool = False  # json: the light has a brightness
    effect: bool = False  # json: effects
    flash: bool = True  # json
    transition: bool = True  # json
    flash_time_short: int = Field(2, ge=0)
    flash_time_long: int = Field(10, ge=0)
    brightness_command_topic: PubTopic = None
    brightness_state_topic: SubTopic = None
    color_mode_state_topic: SubTopic = None
    color_temp_command_topic: PubTopic = None
    color_temp_state_topic: SubTopic = None
    effect_command_topic: PubTopic = None
    effect_state_topic: SubTopic = None
    hs_command_topic: PubTopic = None
    hs_state_topic: SubTopic = None
    rgb_command_topic: PubTopic = None
    rgb_state_topic: SubTopic = None
    rgbw_command_topic: PubTopic = None
    rgbw_state_topic: SubTopic = None
    rgbww_command_topic: PubTopic = None
    rgbww_state_topic: SubTopic = None
    white_command_topic: PubTopic = None
    xy_command_topic: PubTopic = None
    xy_state_topic: SubTopic = None
    command_on_template: OptStr = None
    command_off_template: OptStr = None

    @model_validator(mode="after")
    def _light_rules(self) -> LightSchema:
        if self.on_command_type not in ("first", "last", "brightness"):
            raise ValueError("on_command_type must be 'first', 'last' or 'brightness'")
        modes = self.supported_color_modes
        if modes is not None:
            bad = [m for m in modes if m not in COLOR_MODES]
            if bad or len(set(modes)) != len(modes):
                raise ValueError(f"supported_color_modes: invalid or repeated {bad or modes}")
            if len(modes) > 1 and ("onoff" in modes or "brightness" in modes):
                raise ValueError("supported_color_modes: 'onoff' and 'brightness' must be alone")
        if self.light_schema == "template" and not (
                self.command_on_template and self.command_off_template):
            raise ValueError("a template light needs 'command_on_template' and "
                             "'command_off_template'")
        return self
