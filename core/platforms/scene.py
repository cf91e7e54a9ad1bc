"""``scene``, with Home Assistant's MQTT scene semantics (HA 2025.4): ``turn_on`` (HA's
``scene.turn_on``, "activate") publishes ``payload_on`` (default ``ON``) to ``command_topic``;
a scene has no state topic, its state is the time it was last activated (as HA's). The panel
draws an "Activate" button."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import Control, Entity, Order, Platform, Words, now_iso


class SceneSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"state_topic"})  # HA's scene has no state topic
    REQUIRED = ("command_topic",)
    DEFAULTS = {"payload_on": "ON"}


class Scene(Platform):
    name = "scene"
    Schema = SceneSchema
    services = ("turn_on",)
    control = Control("button", service="turn_on", label="Activate")
    # "activate the movie scene" (HA's HassTurnOn on a scene): a press of turn_on
    words = Words(listed=True, pressable=True, press_service="turn_on", noun="scene")

    def optimistic(self, entity: Entity) -> bool:
        return True  # nothing ever reports a scene's state

    def command(self, entity: Entity, service: str, data: dict[str, Any]) -> Order:
        if service != "turn_on":
            raise self.refuse(entity, service)
        return Order(str(entity.spec.payload_on), now_iso())
