"""Typed entity declarations: what a node exposes and how each platform speaks on the wire.

A node kind declares entities (``Sensor(key="cpu", unit="%", ...)``); the framework derives the
Home Assistant discovery payload, encodes states and validates commands from the declaration.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

import orjson

from spark.core.errors import PayloadError
from spark.core.topics import valid_object_id

EntityCategory = Literal["config", "diagnostic"]
PAYLOAD_NONE = "None"  # HA's MQTT sensor treats this payload as "unknown"


@dataclass(kw_only=True)
class Entity:
    """Common fields. ``key`` becomes the object id in topics and ids (``[a-zA-Z0-9_-]``)."""

    platform: ClassVar[str]
    commandable: ClassVar[bool] = False
    retain_state: ClassVar[bool] = True
    # False: the platform names its topics itself (topic_fields), without the plain
    # state_topic / command_topic (HA's climate has neither)
    plain_topics: ClassVar[bool] = True

    key: str
    name: str | None = None  # None: the entity takes the device's name (HA has_entity_name)
    icon: str | None = None
    device_class: str | None = None
    entity_category: EntityCategory | None = None
    enabled_by_default: bool = True
    attributes: bool = False  # publish a json_attributes_topic
    qos: int = 1

    def __post_init__(self) -> None:
        valid_object_id(self.key)

    def discovery_fields(self) -> dict[str, Any]:
        """Platform-specific discovery keys (topics are added by the framework)."""
        return {}

    def topic_fields(self, state: str, command: str) -> dict[str, Any]:
        """Discovery keys naming further topics (a cover's ``position_topic``), given the
        entity's state and command topics; added after :meth:`discovery_fields`."""
        return {}

    def encode_state(self, value: Any) -> str | bytes:
        if value is None:
            return PAYLOAD_NONE
        if isinstance(value, bool):
            return "ON" if value else "OFF"
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, float):
            if not math.isfinite(value):
                return PAYLOAD_NONE
            return repr(round(value, 6))
        return str(value)

    def parse_command(self, payload: bytes) -> Any:
        raise PayloadError(f"{self.platform} {self.key!r} takes no commands")


def _text(payload: bytes, limit: int = 1024) -> str:
    if len(payload) > limit:
        raise PayloadError(f"command payload too large ({len(payload)} bytes, limit {limit})")
    try:
        return payload.decode().strip()
    except UnicodeDecodeError as exc:
        raise PayloadError("command payload is not UTF-8 text") from exc


@dataclass(kw_only=True)
class Sensor(Entity):
    platform: ClassVar[str] = "sensor"
    unit: str | None = None
    state_class: Literal["measurement", "total", "total_increasing"] | None = None
    suggested_display_precision: int | None = None
    options: list[str] | None = None  # enum sensor (requires device_class "enum")
    expire_after: int | None = None
    retain: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.options is not None:
            self.device_class = "enum"
            if self.unit or self.state_class:
                raise ValueError(f"enum sensor {self.key!r} cannot have a unit or state_class")
        if self.entity_category == "config":
            raise ValueError(f"sensor {self.key!r}: entity_category may only be 'diagnostic'")

    def discovery_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.unit:
            out["unit_of_measurement"] = self.unit
        if self.state_class:
            out["state_class"] = self.state_class
        if self.suggested_display_precision is not None:
            out["suggested_display_precision"] = self.suggested_display_precision
        if self.options is not None:
            out["options"] = self.options
        if self.expire_after:
            out["expire_after"] = self.expire_after
        return out

    def encode_state(self, value: Any) -> str | bytes:
        if self.options is not None and value is not None and str(value) not in self.options:
            raise PayloadError(f"sensor {self.key!r}: {value!r} is not one of {self.options}")
        return super().encode_state(value)


@dataclass(kw_only=True)
class BinarySensor(Entity):
    platform: ClassVar[str] = "binary_sensor"
    expire_after: int | None = None
    off_delay: int | None = None

    def discovery_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"payload_on": "ON", "payload_off": "OFF"}
        if self.expire_after:
            out["expire_after"] = self.expire_after
        if self.off_delay:
            out["off_delay"] = self.off_delay
        return out

    def encode_state(self, value: Any) -> str | bytes:
        return PAYLOAD_NONE if value is None else ("ON" if value else "OFF")


_TRUE = {"on", "true", "1", "yes"}
_FALSE = {"off", "false", "0", "no"}


@dataclass(kw_only=True)
class Switch(Entity):
    platform: ClassVar[str] = "switch"
    commandable: ClassVar[bool] = True

    def discovery_fields(self) -> dict[str, Any]:
        return {"payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF"}

    def encode_state(self, value: Any) -> str | bytes:
        return PAYLOAD_NONE if value is None else ("ON" if value else "OFF")

    def parse_command(self, payload: bytes) -> bool:
        text = _text(payload).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise PayloadError(f"switch {self.key!r} takes ON or OFF, not {text[:40]!r}")


@dataclass(kw_only=True)
class Select(Entity):
    platform: ClassVar[str] = "select"
    commandable: ClassVar[bool] = True
    options: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.options:
            raise ValueError(f"select {self.key!r} needs options")

    def discovery_fields(self) -> dict[str, Any]:
        return {"options": list(self.options)}

    def encode_state(self, value: Any) -> str | bytes:
        if value is not None and str(value) not in self.options:
            raise PayloadError(f"select {self.key!r}: {value!r} is not one of {self.options}")
        return super().encode_state(value)

    def parse_command(self, payload: bytes) -> str:
        text = _text(payload)
        if text not in self.options:
            raise PayloadError(
                f"select {self.key!r}: {text[:40]!r} is not one of {', '.join(self.options)}"
            )
        return text


@dataclass(kw_only=True)
class Number(Entity):
    platform: ClassVar[str] = "number"
    commandable: ClassVar[bool] = True
    min: float = 0.0
    max: float = 100.0
    step: float = 1.0
    unit: str | None = None
    mode: Literal["auto", "box", "slider"] = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.min < self.max or self.step <= 0:
            raise ValueError(f"number {self.key!r}: need min < max and step > 0")

    def discovery_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"min": self.min, "max": self.max, "step": self.step,
                               "mode": self.mode}
        if self.unit:
            out["unit_of_measurement"] = self.unit
        return out

    def parse_command(self, payload: bytes) -> float:
        text = _text(payload)
        try:
            value = float(text)
        except ValueError:
            raise PayloadError(f"number {self.key!r} takes a number, not {text[:40]!r}") from None
        if not math.isfinite(value) or not self.min <= value <= self.max:
            raise PayloadError(f"number {self.key!r}: {value} is outside {self.min}..{self.max}")
        steps = (value - self.min) / self.step
        if abs(steps - round(steps)) > 1e-6:
            raise PayloadError(f"number {self.key!r}: {value} is not a multiple of {self.step}")
        return value

    def encode_state(self, value: Any) -> str | bytes:
        if isinstance(value, float) and value.is_integer() and float(self.step).is_integer():
            return str(int(value))
        return super().encode_state(value)


@dataclass(kw_only=True)
class Button(Entity):
    platform: ClassVar[str] = "button"
    commandable: ClassVar[bool] = True
    retain_state: ClassVar[bool] = False

    def discovery_fields(self) -> dict[str, Any]:
        return {"payload_press": "PRESS"}

    def parse_command(self, payload: bytes) -> None:
        text = _text(payload)
        if text.upper() != "PRESS":
            raise PayloadError(f"button {self.key!r} takes PRESS, not {text[:40]!r}")


@dataclass(kw_only=True)
class Event(Entity):
    platform: ClassVar[str] = "event"
    retain_state: ClassVar[bool] = False
    event_types: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.event_types:
            raise ValueError(f"event {self.key!r} needs event_types")

    def discovery_fields(self) -> dict[str, Any]:
        return {"event_types": list(self.event_types)}

    def encode_state(self, value: Any) -> str | bytes:
        if not isinstance(value, dict) or value.get("event_type") not in self.event_types:
            raise PayloadError(
                f"event {self.key!r} needs a dict with event_type in {self.event_types}"
            )
        return orjson.dumps(value)


@dataclass(kw_only=True)
class Image(Entity):
    platform: ClassVar[str] = "image"
    content_type: str = "image/jpeg"
    b64: bool = False

    def discovery_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content_type": self.content_type}
        if self.b64:
            out["image_encoding"] = "b64"
        return out

    def encode_state(self, value: Any) -> str | bytes:
        if not isinstance(value, bytes | bytearray):
            raise PayloadError(f"image {self.key!r} needs bytes")
        return base64.b64encode(value) if self.b64 else bytes(value)


PLATFORMS: dict[str, type[Entity]] = {
    cls.platform: cls
    for cls in (Sensor, BinarySensor, Switch, Select, Number, Button, Event, Image)
}
