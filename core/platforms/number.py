"""``number``: a value in ``min``..``max`` (HA's defaults 1..100; min < max); ``set_value``
publishes it, the panel draws a number field, voice says "set X to <number>". As Home
Assistant's (2025.4): a state outside the range or not a number is rejected, an empty one
ignored, ``payload_reset`` (default ``None``) makes it unknown."""

from __future__ import annotations

import math
from typing import Any

from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity, Str
from spark.core.errors import PayloadError, ServiceError
from spark.core.platforms.base import IGNORE, Control, Entity, Order, Platform, Words

DEFAULT_MIN, DEFAULT_MAX = 1.0, 100.0


class NumberSchema(DiscoveredEntity):
    REQUIRED = ("command_topic",)

    payload_reset: Str = "None"

    @model_validator(mode="after")
    def _range(self) -> NumberSchema:
        low = self.min if self.min is not None else DEFAULT_MIN
        high = self.max if self.max is not None else DEFAULT_MAX
        if not low < high:
            raise ValueError(f"number: 'min' ({low}) must be less than 'max' ({high})")
        return self


class Number(Platform):
    name = "number"
    Schema = NumberSchema
    services = ("set_value",)
    control = Control("number", service="set_value", field="value")
    numeric = "always"  # the history draws a line
    words = Words(listed=True, setter="number", ha_domains=("sensor",),
                  ha_position_domains=("cover",))  # "set the setpoint to twenty"

    def parse(self, entity: Entity, value: str) -> Any:
        if not value.strip():
            return IGNORE  # HA: an empty state is ignored
        spec = entity.spec
        if value == getattr(spec, "payload_reset", "None"):
            return None
        try:
            number = float(value)
        except ValueError:
            raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is not a number") from None
        low = spec.min if spec.min is not None else DEFAULT_MIN
        high = spec.max if spec.max is not None else DEFAULT_MAX
        if not low <= number <= high:  # HA: "invalid value", the state stays
            raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is outside {low}..{high}")
        return value

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        spec = entity.spec
        low = spec.min if spec.min is not None else DEFAULT_MIN
        high = spec.max if spec.max is not None else DEFAULT_MAX
        return {"value": {"type": "number", "minimum": low, "maximum": high}}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "set_value":
            raise self.refuse(entity, service)
        spec = entity.spec
        if "value" not in data:
            raise ServiceError("set_value needs a 'value'")
        try:
            value = float(data["value"])
        except (TypeError, ValueError, OverflowError):
            raise ServiceError(f"{data['value']!r} is not a number") from None
        low = spec.min if spec.min is not None else DEFAULT_MIN
        high = spec.max if spec.max is not None else DEFAULT_MAX
        if not math.isfinite(value) or not low <= value <= high:
            raise ServiceError(f"{value} is outside {low}..{high} for {entity.entity_id}")
        text = str(int(value)) if value.is_integer() else repr(value)
        return Order(text, None if spec.value_template else text)
