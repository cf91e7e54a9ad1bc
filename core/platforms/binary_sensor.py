"""``binary_sensor``: a read-only on/off state (payloads default to ``ON`` / ``OFF``), as Home
Assistant's MQTT binary sensor (2025.4).

``off_delay`` (seconds): for sensors that only ever send "on" (a PIR, a Tasmota button), the
state goes back to ``off`` that long after the last "on"; each "on" restarts the delay, so every
press of a button shows as on -> off.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spark.core.platforms.base import Entity, OnOffSchema, OnOffState, Words


class BinarySensorSchema(OnOffSchema):
    NOT_INHERITED = frozenset({"command_topic"})  # read-only in HA
    off_delay: float | None = Field(default=None, ge=0, le=86_400)


class BinarySensor(OnOffState):
    name = "binary_sensor"
    Schema = BinarySensorSchema
    words = Words(ha_domains=("sensor",), listed=True)

    def revert_after(self, entity: Entity, state: Any) -> tuple[float, str] | None:
        delay = getattr(entity.spec, "off_delay", None)
        if state == "on" and delay is not None:
            return float(delay), "off"
        return None
