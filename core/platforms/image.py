"""``image``: the payload on ``image_topic`` is the picture (kept on the entity, the state is
left as it is); ``url_topic`` carries a link instead."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import IGNORE, Entity, Platform


class ImageSchema(DiscoveredEntity):
    @model_validator(mode="after")
    def _one_source(self) -> ImageSchema:
        if (self.image_topic is None) == (self.url_topic is None):
            raise ValueError("image needs exactly one of 'image_topic' and 'url_topic'")
        return self


class Image(Platform):
    name = "image"
    Schema = ImageSchema
    display = "image"

    def state(self, entity: Entity, payload: bytes) -> Any:
        if self.render(entity, payload) == "None":
            return None
        entity.image = payload
        return IGNORE
