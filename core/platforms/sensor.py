"""``sensor``: a read-only value, as Home Assistant 2025.4's MQTT sensor. Numeric when it has a
unit or a state class (then a non-number is rejected and ``''`` ignored), ``enum`` sensors check
their ``options``, a ``timestamp`` sensor's state is its time in UTC (one without a time zone is
rejected), a ``date`` sensor's an ISO date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import PayloadError
from spark.core.platforms.base import IGNORE, Entity, Platform, Words

NOT_NUMERIC_CLASSES = ("enum", "timestamp", "date")


class SensorSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"command_topic"})  # read-only in HA
    @model_validator(mode="after")
    def _category(self) -> SensorSchema:
        if self.entity_category == "config":
            raise ValueError("a sensor's entity_category may only be 'diagnostic'")
        return self


class Sensor(Platform):
    name = "sensor"
    Schema = SensorSchema
    numeric = "with_unit"  # the history draws a line
    words = Words(listed=True)

    def parse(self, entity: Entity, value: str) -> Any:
        spec = entity.spec
        numeric = bool(spec.unit_of_measurement or spec.state_class)
        if value == "" and (numeric or spec.device_class not in (None, "enum")):
            return IGNORE
        if numeric and spec.device_class not in NOT_NUMERIC_CLASSES:
            try:
                float(value)
            except ValueError:
                raise PayloadError(
                    f"{entity.entity_id}: {value[:40]!r} is not numeric "
                    f"(unit {spec.unit_of_measurement!r})"
                ) from None
        if spec.options and value not in spec.options:
            raise PayloadError(f"{entity.entity_id}: {value[:40]!r} not in options")
        if spec.device_class == "timestamp":
            return _timestamp(entity, value)
        if spec.device_class == "date":
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is not a date") from None
        return value


def _timestamp(entity: Entity, value: str) -> str:
    """HA: a timestamp sensor's state is its time in UTC (ISO, seconds); one without a time
    zone or that does not parse is rejected."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"{entity.entity_id}: {value[:40]!r} is not a timestamp") from None
    if when.tzinfo is None:
        raise PayloadError(f"{entity.entity_id}: timestamp {value[:40]!r} has no time zone")
    return when.astimezone(UTC).isoformat(timespec="seconds")
