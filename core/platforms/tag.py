"""``tag``: a tag scanner, as Home Assistant's MQTT tag (2025.4): each message on ``topic``
(through ``value_template``) is a scanned tag id; the registry keeps the scanner beside its
device (``Registry.triggers``, id ``tag.<...>``) and fires ``EntityFired`` with
``event_type`` ``tag_scanned`` and the ``tag_id`` (an empty id is ignored, as HA does)."""

from __future__ import annotations

from typing import Any

from spark.core.discovery.models import AVAILABILITY_OPTIONS, DiscoveredEntity, SubTopic
from spark.core.platforms.base import IGNORE, Entity, Fired, Platform


class TagSchema(DiscoveredEntity):
    # HA's tag scanner: ``topic``, qos and encoding; no availability
    NOT_INHERITED = AVAILABILITY_OPTIONS | {"state_topic", "command_topic"}
    REQUIRED = ("topic",)

    topic: SubTopic = None


class Tag(Platform):
    name = "tag"
    Schema = TagSchema
    state_topics = ("topic",)

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        tag_id = self.render(entity, payload).strip()
        if not tag_id:
            return IGNORE
        return Fired("tag_scanned", {"tag_id": tag_id[:200]})
