"""``notify``, with Home Assistant's MQTT notify semantics (HA 2025.4): ``send_message`` with a
``message`` (and an optional ``title``, which HA's MQTT notify does not publish) renders
``command_template`` with ``value`` = the message and publishes it to ``command_topic``. A notify
entity has no state topic; its state is the time of the last message (as HA's)."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import ServiceError
from spark.core.platforms.base import Entity, Order, Platform, Words, now_iso

MAX_MESSAGE = 4096  # characters a message may have


class NotifySchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"state_topic"})  # HA's notify has no state topic
    REQUIRED = ("command_topic",)


class Notify(Platform):
    name = "notify"
    Schema = NotifySchema
    services = ("send_message",)
    words = Words(listed=False)

    def optimistic(self, entity: Entity) -> bool:
        return True

    def arguments(self, entity: Entity, service: str) -> dict[str, dict[str, Any]]:
        return {"message": {"type": "string", "maxLength": MAX_MESSAGE}}

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "send_message":
            raise self.refuse(entity, service)
        message = data.get("message")
        if not isinstance(message, str):
            raise ServiceError("send_message needs a 'message' (text)")
        if len(message) > MAX_MESSAGE:
            raise ServiceError(f"message longer than {MAX_MESSAGE} characters")
        title = data.get("title")
        if title is not None and not isinstance(title, str):
            raise ServiceError("send_message: 'title' must be text")
        return Order(message, now_iso())
