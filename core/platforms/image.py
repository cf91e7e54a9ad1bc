"""``image``, with Home Assistant's MQTT image semantics (HA 2025.4).

- ``image_topic``: the payload is the picture (raw, or base64 with ``image_encoding: b64``; at
  most ``camera.MAX_IMAGE`` bytes), of ``content_type`` (default ``image/jpeg``, only with
  ``image_topic``; the hub's picture budget, ``hub.max_picture_bytes``, holds for all of them,
  as for cameras). ``url_topic`` (through ``url_template``): the payload is the picture's
  address, kept as the ``url`` attribute (http or https only; the hub never fetches it).
- State: the time of the last new picture or address (as HA's image entity).
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import IGNORE, Entity, Platform, now_iso
from spark.core.platforms.camera import keep, picture

MAX_URL = 2048


class ImageSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"state_topic", "command_topic"})  # image / url topics only
    @model_validator(mode="after")
    def _one_source(self) -> ImageSchema:
        if (self.image_topic is None) == (self.url_topic is None):
            raise ValueError("image needs exactly one of 'image_topic' and 'url_topic'")
        if self.url_topic is not None and self.raw.get("content_type") is not None:
            raise ValueError("image: 'content_type' goes with 'image_topic' only")
        return self


class Image(Platform):
    name = "image"
    Schema = ImageSchema
    display = "image"
    state_topics = ("url_topic",)
    state_attributes = True

    def state(self, entity: Entity, payload: bytes) -> Any:
        image = picture(entity, payload)
        if image is None or not image:
            return IGNORE
        keep(entity, image)
        return now_iso()

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        url = self.render_key(entity, "url_template", payload).strip()
        if not url.startswith(("http://", "https://")) or len(url) > MAX_URL or \
                any(c.isspace() for c in url):
            return IGNORE  # HA: "invalid image URL", ignored
        if entity.attributes.get("url") == url:
            return IGNORE
        entity.attributes["url"] = url
        return now_iso()
