"""``button``: no state; ``press`` publishes ``payload_press`` (default ``PRESS``), the panel
draws a button, voice says "press X" (or "turn on X"). As Home Assistant's (2025.4), its state
is the time of the last press."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import Control, Entity, Order, Platform, Words, now_iso


class ButtonSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"state_topic"})  # HA's button has no state topic
    DEFAULTS = {"payload_press": "PRESS"}
    REQUIRED = ("command_topic",)


class Button(Platform):
    name = "button"
    Schema = ButtonSchema
    services = ("press",)
    control = Control("button", service="press")
    words = Words(ha_domains=("sensor",), listed=True, pressable=True)

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "press":
            raise self.refuse(entity, service)
        return Order(str(entity.spec.payload_press), now_iso())  # HA: the last press's time
