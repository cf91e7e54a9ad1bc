"""``text``, with Home Assistant's MQTT text semantics (HA 2025.4).

- Config: ``min`` (default 0) <= ``max`` (default 255, at most 255), ``mode`` ``text`` or
  ``password``, ``pattern`` a regular expression within the project's regex bounds
  (``core.regex_guard``: length, counted repeats, a match timeout); anything else is refused.
- State: the rendered payload; ``None`` makes it unknown; a value longer than 255 characters,
  shorter than ``min``, longer than ``max`` or not matching ``pattern`` (at its start, as HA's
  ``re.match``) is rejected and the state stays.
- ``set_value``: the same checks (refused before anything is published), then the value through
  ``command_template``; optimistic without a ``state_topic``.
- Panel: a text field (a password field in ``password`` mode; the state is never shown then).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from spark.core.discovery.models import DiscoveredEntity, OptStr
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms._families import spec_of
from spark.core.platforms.base import Control, Entity, Order, Platform, Words
from spark.core.regex_guard import bounded_match, bounded_pattern

MAX_TEXT = 255  # Home Assistant's largest max for a text entity


class TextSchema(DiscoveredEntity):
    REQUIRED = ("command_topic",)

    min: float | None = Field(default=0, ge=0, le=MAX_TEXT)
    max: float | None = Field(default=MAX_TEXT, ge=0, le=MAX_TEXT)
    mode: Literal["text", "password"] | None = "text"  # type: ignore[assignment]
    pattern: OptStr = None

    @model_validator(mode="after")
    def _bounds(self) -> TextSchema:
        if (self.min or 0) > (self.max if self.max is not None else MAX_TEXT):
            raise ValueError("text length min must be <= max")
        if self.pattern is not None:
            bounded_pattern(self.pattern)  # ValueError saying why not
        return self


def _schema(entity: Entity) -> TextSchema:
    return spec_of(entity, TextSchema)


def check_text(spec: TextSchema, value: str) -> str | None:
    """Why ``value`` is not a valid text for ``spec`` (None: it is)."""
    low = int(spec.min or 0)
    high = int(spec.max if spec.max is not None else MAX_TEXT)
    if len(value) < low:
        return f"is shorter than {low} characters"
    if len(value) > high:
        return f"is longer than {high} characters"
    if spec.pattern is not None and not bounded_match(spec.pattern, value):
        return "does not match the pattern"
    return None


class Text(Platform):
    name = "text"
    Schema = TextSchema
    services = ("set_value",)
    control = Control("text", service="set_value", field="value")
    words = Words(ha_domains=("sensor",), listed=True)

    def parse(self, entity: Entity, value: str) -> Any:
        why = check_text(_schema(entity), value)
        if why is not None:
            raise PayloadError(f"{entity.entity_id}: state {why}")
        return value

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        spec = _schema(entity)
        return {"value": {"type": "string", "minLength": int(spec.min or 0),
                          "maxLength": int(spec.max if spec.max is not None else MAX_TEXT)}}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "set_value":
            raise self.refuse(entity, service)
        if "value" not in data:
            raise ServiceError("set_value needs a 'value'")
        value = data["value"]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ServiceError("set_value: 'value' must be text")
        value = str(value)
        why = check_text(_schema(entity), value)
        if why is not None:
            raise ServiceError(f"set_value on {entity.entity_id}: the value {why}")
        return Order(value, value)
