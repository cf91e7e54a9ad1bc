"""``text``: free text; ``set_value`` publishes it as given."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import ServiceError
from spark.core.platforms.base import Entity, Order, Platform

MAX_TEXT = 255  # Home Assistant's default max for a text entity


class TextSchema(DiscoveredEntity):
    REQUIRED = ("command_topic",)


class Text(Platform):
    name = "text"
    Schema = TextSchema
    services = ("set_value",)

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        top = entity.spec.max
        return {"value": {"type": "string",
                          "maxLength": int(top) if top is not None and top >= 0 else MAX_TEXT}}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "set_value":
            raise self.refuse(entity, service)
        if "value" not in data:
            raise ServiceError("set_value needs a 'value'")
        return Order(str(data["value"]), str(data["value"]))
