"""``select``: one of ``options``; ``select_option`` publishes the option, the panel draws a
dropdown, voice says "select <option> for X". As Home Assistant 2025.4's MQTT select: a state
not among the options is rejected, an empty one ignored, ``none`` (any case) makes it unknown."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import ServiceError
from spark.core.platforms.base import IGNORE, Control, Entity, Order, Platform, Words, check_option


class SelectSchema(DiscoveredEntity):
    REQUIRED = ("command_topic", "options")


class Select(Platform):
    name = "select"
    Schema = SelectSchema
    services = ("select_option",)
    control = Control("select", service="select_option", field="option")
    words = Words(ha_domains=("sensor",), listed=True, setter="option")

    def parse(self, entity: Entity, value: str) -> Any:
        if not value.strip():
            return IGNORE  # HA: an empty state is ignored
        if value.lower() == "none":
            return None  # HA: "none" in any case resets
        check_option(entity, value)
        return value

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        return {"option": {"type": "string", "enum": list(entity.spec.options or [])}}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "select_option":
            raise self.refuse(entity, service)
        option = str(data.get("option", ""))
        options = entity.spec.options
        if options and option not in options:
            raise ServiceError(
                f"{option!r} is not an option of {entity.entity_id}: {', '.join(options)}"
            )
        return Order(option, option)
