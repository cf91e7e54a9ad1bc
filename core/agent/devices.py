"""Entity kinds of the devices a home lab has: a JSON-schema colour light, a cover, a climate
(thermostat), a fan and a lock.

Each declares its Home Assistant discovery keys exactly as HA's MQTT docs name them (checked
against HA 2024.3 and 2025.4: mireds, not the kelvin keys of 2025.x, so both read them). An
entity keeps the node's one state topic and one command topic: the state is one JSON object
that the value templates pick apart (as Zigbee2MQTT does), and each command topic HA
publishes to is the entity's ``set`` topic with a template rendering a small JSON object
(``{"position": 40}``, ``{"mode": "heat"}``), whose models are in ``core.agent.device_messages``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from spark.core.agent.device_messages import (
    LOCK_STATES,
    ClimateCommand,
    ClimateState,
    CoverCommand,
    CoverPosition,
    CoverState,
    FanCommand,
    FanState,
    LightCommand,
    LightState,
    load_object,
    parse_model,
)
from spark.core.agent.entities import PAYLOAD_NONE, Entity, _text
from spark.core.errors import PayloadError


def _json(key: str) -> str:
    return "{{ value_json.%s }}" % key  # noqa: UP031 (Jinja braces)


def _encode(entity: Entity, value: Any,
            model: type[LightState | CoverState | ClimateState | FanState]) -> bytes | str:
    if value is None:
        return PAYLOAD_NONE
    if not isinstance(value, model):
        raise PayloadError(f"{entity.platform} {entity.key!r} needs a {model.__name__}")
    return value.payload()


@dataclass(kw_only=True)
class Light(Entity):
    """A dimmable colour light, HA's JSON schema: brightness 1..255, colour temperature in
    mireds, rgb colour, optional effects."""

    platform: ClassVar[str] = "light"
    commandable: ClassVar[bool] = True
    min_mireds: int = 153  # 6500 K
    max_mireds: int = 500  # 2000 K
    effects: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.min_mireds < self.max_mireds:
            raise ValueError(f"light {self.key!r}: need 0 < min_mireds < max_mireds")

    def discovery_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": "json", "brightness": True, "brightness_scale": 255,
            "supported_color_modes": ["color_temp", "rgb"],
            "min_mireds": self.min_mireds, "max_mireds": self.max_mireds,
        }
        if self.effects:
            out.update(effect=True, effect_list=list(self.effects))
        return out

    def encode_state(self, value: Any) -> str | bytes:
        return _encode(self, value, LightState)

    def parse_command(self, payload: bytes) -> LightCommand:
        what = f"light {self.key!r}"
        cmd: LightCommand = parse_model(LightCommand, load_object(payload, what), what)
        if cmd.color_temp is not None and not self.min_mireds <= cmd.color_temp <= self.max_mireds:
            raise PayloadError(f"{what}: color_temp {cmd.color_temp} is outside "
                               f"{self.min_mireds}..{self.max_mireds} mireds")
        if cmd.effect is not None and cmd.effect not in self.effects:
            raise PayloadError(f"{what}: effect {cmd.effect[:40]!r} is not one of "
                               f"{self.effects}")
        return cmd


@dataclass(kw_only=True)
class Cover(Entity):
    """A cover with a position: ``OPEN`` / ``CLOSE`` / ``STOP`` on the command topic, the
    position as ``{"position": n}`` (``set_position_template``) on the same topic."""

    platform: ClassVar[str] = "cover"
    commandable: ClassVar[bool] = True

    def discovery_fields(self) -> dict[str, Any]:
        return {
            "value_template": _json("state"),
            "payload_open": "OPEN", "payload_close": "CLOSE", "payload_stop": "STOP",
            "state_open": "open", "state_opening": "opening", "state_closed": "closed",
            "state_closing": "closing", "state_stopped": "stopped",
            "position_open": 100, "position_closed": 0,
        }

    def topic_fields(self, state: str, command: str) -> dict[str, Any]:
        return {"position_topic": state, "position_template": _json("position"),
                "set_position_topic": command,
                "set_position_template": '{"position": {{ position }}}'}

    def encode_state(self, value: Any) -> str | bytes:
        return _encode(self, value, CoverState)

    def parse_command(self, payload: bytes) -> CoverCommand:
        what = f"cover {self.key!r}"
        if payload[:1] == b"{":
            pos: CoverPosition = parse_model(CoverPosition, load_object(payload, what), what)
            return CoverCommand(position=pos.position)
        text = _text(payload)
        if text not in ("OPEN", "CLOSE", "STOP"):
            raise PayloadError(f"{what} takes OPEN, CLOSE, STOP or {{\"position\": 0..100}}, "
                               f"not {text[:40]!r}")
        return CoverCommand(action=text)


@dataclass(kw_only=True)
class Climate(Entity):
    """A thermostat: hvac mode and target temperature commanded, the current temperature and
    the hvac action reported. HA's climate has no plain state or command topic: each value
    has its own keys (here all on the entity's two topics)."""

    platform: ClassVar[str] = "climate"
    commandable: ClassVar[bool] = True
    plain_topics: ClassVar[bool] = False
    modes: list[str] = field(default_factory=lambda: ["off", "heat", "cool", "auto"])
    min_temp: float = 7.0
    max_temp: float = 35.0
    temp_step: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.modes or not self.min_temp < self.max_temp or self.temp_step <= 0:
            raise ValueError(f"climate {self.key!r}: need modes, min_temp < max_temp and "
                             "temp_step > 0")

    def discovery_fields(self) -> dict[str, Any]:
        return {"modes": list(self.modes), "min_temp": self.min_temp,
                "max_temp": self.max_temp, "temp_step": self.temp_step, "precision": 0.1,
                "temperature_unit": "C"}

    def topic_fields(self, state: str, command: str) -> dict[str, Any]:
        return {
            "mode_state_topic": state, "mode_state_template": _json("mode"),
            "temperature_state_topic": state, "temperature_state_template": _json("temperature"),
            "current_temperature_topic": state,
            "current_temperature_template": _json("current_temperature"),
            "action_topic": state, "action_template": _json("action"),
            "mode_command_topic": command, "mode_command_template": '{"mode": "{{ value }}"}',
            "temperature_command_topic": command,
            "temperature_command_template": '{"temperature": {{ value }}}',
        }

    def encode_state(self, value: Any) -> str | bytes:
        return _encode(self, value, ClimateState)

    def parse_command(self, payload: bytes) -> ClimateCommand:
        what = f"climate {self.key!r}"
        cmd: ClimateCommand = parse_model(ClimateCommand, load_object(payload, what), what)
        if cmd.mode is not None and cmd.mode not in self.modes:
            raise PayloadError(f"{what}: mode {cmd.mode[:32]!r} is not one of {self.modes}")
        t = cmd.temperature
        if t is not None and not self.min_temp <= t <= self.max_temp:
            raise PayloadError(f"{what}: temperature {t} is outside "
                               f"{self.min_temp}..{self.max_temp}")
        return cmd


@dataclass(kw_only=True)
class Fan(Entity):
    """A fan: on / off, a speed percentage (1..100) and preset modes."""

    platform: ClassVar[str] = "fan"
    commandable: ClassVar[bool] = True
    preset_modes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(p in ("None", "none", "") for p in self.preset_modes):
            raise ValueError(f"fan {self.key!r}: 'None' is HA's reset payload, not a preset")

    def discovery_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF",
                               "speed_range_min": 1, "speed_range_max": 100}
        if self.preset_modes:
            out["preset_modes"] = list(self.preset_modes)
        return out

    def topic_fields(self, state: str, command: str) -> dict[str, Any]:
        out = {
            "state_value_template": _json("state"),
            "command_template": '{"state": "{{ value }}"}',
            "percentage_state_topic": state, "percentage_value_template": _json("percentage"),
            "percentage_command_topic": command,
            "percentage_command_template": '{"percentage": {{ value }}}',
        }
        if self.preset_modes:
            out.update({
                "preset_mode_state_topic": state,
                "preset_mode_value_template": _json("preset_mode"),
                "preset_mode_command_topic": command,
                "preset_mode_command_template": '{"preset_mode": "{{ value }}"}',
            })
        return out

    def encode_state(self, value: Any) -> str | bytes:
        return _encode(self, value, FanState)

    def parse_command(self, payload: bytes) -> FanCommand:
        what = f"fan {self.key!r}"
        cmd: FanCommand = parse_model(FanCommand, load_object(payload, what), what)
        if cmd.preset_mode is not None and cmd.preset_mode not in self.preset_modes:
            raise PayloadError(f"{what}: preset_mode {cmd.preset_mode[:40]!r} is not one of "
                               f"{self.preset_modes}")
        return cmd


@dataclass(kw_only=True)
class Lock(Entity):
    """A lock: ``LOCK`` / ``UNLOCK`` in, ``LOCKED`` / ``UNLOCKED`` / ``LOCKING`` /
    ``UNLOCKING`` / ``JAMMED`` out (HA's default payloads, stated explicitly)."""

    platform: ClassVar[str] = "lock"
    commandable: ClassVar[bool] = True

    def discovery_fields(self) -> dict[str, Any]:
        return {"payload_lock": "LOCK", "payload_unlock": "UNLOCK",
                "state_locked": "LOCKED", "state_unlocked": "UNLOCKED",
                "state_locking": "LOCKING", "state_unlocking": "UNLOCKING",
                "state_jammed": "JAMMED"}

    def encode_state(self, value: Any) -> str | bytes:
        if value is None:
            return PAYLOAD_NONE
        if value not in LOCK_STATES:
            raise PayloadError(f"lock {self.key!r}: {value!r} is not one of {LOCK_STATES}")
        return str(value)

    def parse_command(self, payload: bytes) -> str:
        text = _text(payload)
        if text not in ("LOCK", "UNLOCK"):
            raise PayloadError(f"lock {self.key!r} takes LOCK or UNLOCK, not {text[:40]!r}")
        return text


DEVICE_PLATFORMS: dict[str, type[Entity]] = {
    cls.platform: cls for cls in (Light, Cover, Climate, Fan, Lock)
}
