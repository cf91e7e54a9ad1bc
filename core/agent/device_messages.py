"""The wire forms of the home-lab device kinds (``core.agent.devices``): what a light, cover,
climate and fan publish as state and take as commands, one JSON object each.

Home Assistant builds these commands from the templates in the discovery config (a cover's
``set_position_template``, a climate's ``mode_command_template`` ...), so every model here is
the exact shape those templates render; a command with any other key is refused (hostile input
is named, never guessed at).
"""

from __future__ import annotations

import colorsys
import math
from typing import Any, Literal

import orjson
from pydantic import Field, ValidationError, model_validator

from spark.core.config.base import StrictModel
from spark.core.errors import PayloadError

MAX_COMMAND_BYTES = 2048
OnOff = Literal["ON", "OFF"]


def load_object(payload: bytes, what: str) -> dict[str, Any]:
    """A command payload as a JSON object (bounded in size), or :class:`PayloadError`."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise PayloadError(f"{what}: command too large ({len(payload)} bytes, "
                           f"limit {MAX_COMMAND_BYTES})")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise PayloadError(f"{what}: command is not JSON") from None
    if not isinstance(body, dict):
        raise PayloadError(f"{what}: command is not a JSON object")
    return body


def parse_model(model: type[StrictModel], body: dict[str, Any], what: str) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "command"
        raise PayloadError(f"{what}: {where}: {first['msg']}") from None


# ---- light (HA's JSON schema) -------------------------------------------------------------------
class LightColor(StrictModel):
    """``color`` of a JSON light command: ``r``/``g``/``b`` or ``h``/``s`` (HA sends the one
    the light's ``supported_color_modes`` name; a light with rgb gets rgb)."""

    r: int | None = Field(None, ge=0, le=255)
    g: int | None = Field(None, ge=0, le=255)
    b: int | None = Field(None, ge=0, le=255)
    h: float | None = Field(None, ge=0, le=360)
    s: float | None = Field(None, ge=0, le=100)

    @model_validator(mode="after")
    def _complete(self) -> LightColor:
        if self.rgb_set() is None and self.hs_set() is None:
            raise ValueError("needs r, g and b (or h and s)")
        return self

    def rgb_set(self) -> tuple[int, int, int] | None:
        if self.r is None or self.g is None or self.b is None:
            return None
        return (self.r, self.g, self.b)

    def hs_set(self) -> tuple[float, float] | None:
        return None if self.h is None or self.s is None else (self.h, self.s)

    def rgb(self) -> tuple[int, int, int]:
        rgb = self.rgb_set()
        if rgb is not None:
            return rgb
        h, s = self.hs_set() or (0.0, 0.0)
        red, green, blue = colorsys.hsv_to_rgb(h / 360, s / 100, 1.0)
        return (round(red * 255), round(green * 255), round(blue * 255))


class LightCommand(StrictModel):
    state: OnOff | None = None
    brightness: int | None = Field(None, ge=0, le=255)
    color_temp: int | None = Field(None, ge=1, le=1_000_000)  # mireds
    color: LightColor | None = None
    transition: float | None = Field(None, ge=0, le=3600)
    flash: int | None = Field(None, ge=0, le=3600)
    effect: str | None = Field(None, max_length=64)


class LightState(StrictModel):
    state: OnOff
    brightness: int = Field(ge=1, le=255)
    color_mode: Literal["color_temp", "rgb"]
    color_temp: int = Field(ge=1)
    color: tuple[int, int, int] = (255, 255, 255)

    def payload(self) -> bytes:
        body: dict[str, Any] = {"state": self.state, "brightness": self.brightness,
                                "color_mode": self.color_mode}
        if self.color_mode == "color_temp":
            body["color_temp"] = self.color_temp
        else:
            r, g, b = self.color
            body["color"] = {"r": r, "g": g, "b": b}
        return orjson.dumps(body)


# ---- cover ---------------------------------------------------------------------------------------
class CoverPosition(StrictModel):
    """What ``set_position_template`` renders: ``{"position": 40}``."""

    position: int = Field(ge=0, le=100)


class CoverCommand(StrictModel):
    action: Literal["OPEN", "CLOSE", "STOP"] | None = None
    position: int | None = Field(None, ge=0, le=100)


CoverStateName = Literal["open", "opening", "closed", "closing", "stopped"]


class CoverState(StrictModel):
    state: CoverStateName
    position: int = Field(ge=0, le=100)

    def payload(self) -> bytes:
        return orjson.dumps({"state": self.state, "position": self.position})


# ---- climate -------------------------------------------------------------------------------------
class ClimateCommand(StrictModel):
    """What ``mode_command_template`` / ``temperature_command_template`` render."""

    mode: str | None = Field(None, max_length=32)
    temperature: float | None = None

    @model_validator(mode="after")
    def _one(self) -> ClimateCommand:
        if self.mode is None and self.temperature is None:
            raise ValueError("needs mode or temperature")
        if self.temperature is not None and not math.isfinite(self.temperature):
            raise ValueError("temperature must be a finite number")
        return self


Action = Literal["off", "heating", "cooling", "idle"]


class ClimateState(StrictModel):
    mode: str
    temperature: float
    current_temperature: float
    action: Action

    def payload(self) -> bytes:
        return orjson.dumps({"mode": self.mode, "temperature": round(self.temperature, 1),
                             "current_temperature": round(self.current_temperature, 2),
                             "action": self.action})


# ---- fan -----------------------------------------------------------------------------------------
class FanCommand(StrictModel):
    """What ``command_template`` / ``percentage_command_template`` /
    ``preset_mode_command_template`` render."""

    state: OnOff | None = None
    percentage: int | None = Field(None, ge=0, le=100)
    preset_mode: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> FanCommand:
        if self.state is None and self.percentage is None and self.preset_mode is None:
            raise ValueError("needs state, percentage or preset_mode")
        return self


class FanState(StrictModel):
    state: OnOff
    percentage: int = Field(ge=0, le=100)
    preset_mode: str | None = None

    def payload(self) -> bytes:
        return orjson.dumps({"state": self.state, "percentage": self.percentage,
                             "preset_mode": self.preset_mode})


# ---- lock ----------------------------------------------------------------------------------------
LockState = Literal["LOCKED", "UNLOCKED", "LOCKING", "UNLOCKING", "JAMMED"]
LOCK_STATES: tuple[str, ...] = ("LOCKED", "UNLOCKED", "LOCKING", "UNLOCKING", "JAMMED")
