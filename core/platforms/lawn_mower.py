"""``lawn_mower``, with Home Assistant's MQTT lawn mower semantics (HA 2025.4).

- State: the activity from ``activity_state_topic`` through ``activity_value_template``:
  ``mowing``, ``paused``, ``docked``, ``returning``, ``error``; ``none`` (any case) makes it
  unknown; an empty or unknown activity is ignored.
- ``start_mowing`` / ``pause`` / ``dock`` publish ``start_mowing`` / ``pause`` / ``dock`` through
  ``<command>_command_template`` to ``<command>_command_topic``; a mower without that topic does
  not support the command.
- Optimistic (``optimistic: true`` or no ``activity_state_topic``): the activity follows each
  call at once (``mowing``, ``paused``, ``docked``).
"""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity, OptStr, PubTopic, SubTopic
from spark.core.errors import ServiceError
from spark.core.platforms.base import IGNORE, Control, Entity, Order, Platform, Publish, Words

ACTIVITIES = frozenset({"mowing", "paused", "docked", "returning", "error"})
# service -> the activity it leads to
COMMANDS = {"start_mowing": "mowing", "pause": "paused", "dock": "docked"}


class LawnMowerSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"state_topic", "command_topic"})  # a topic per feature
    activity_state_topic: SubTopic = None
    activity_value_template: OptStr = None
    start_mowing_command_topic: PubTopic = None
    pause_command_topic: PubTopic = None
    dock_command_topic: PubTopic = None


class LawnMower(Platform):
    name = "lawn_mower"
    Schema = LawnMowerSchema
    services = tuple(COMMANDS)
    state_topics = ("activity_state_topic",)
    control = Control("group", parts=(
        Control("button", service="start_mowing", label="Mow",
                needs="start_mowing_command_topic"),
        Control("button", service="pause", label="Pause", needs="pause_command_topic"),
        Control("button", service="dock", label="Dock", needs="dock_command_topic"),
    ))
    words = Words(listed=True)

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        value = self.render_key(entity, "activity_value_template", payload)
        if not value.strip():
            return IGNORE
        if value.lower() == "none":
            return None
        return value if value in ACTIVITIES else IGNORE

    def optimistic(self, entity: Entity) -> bool:
        spec = entity.spec
        return bool(spec.optimistic) or not getattr(spec, "activity_state_topic", None)

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service not in COMMANDS:
            raise self.refuse(entity, service)
        if not getattr(entity.spec, f"{service}_command_topic", None):
            raise ServiceError(f"{entity.entity_id} does not support {service} "
                               f"(no {service}_command_topic)")
        return Order(service, COMMANDS[service], publishes=(
            Publish(f"{service}_command_topic", service, f"{service}_command_template"),))
