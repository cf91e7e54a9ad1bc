"""``camera``, with Home Assistant's MQTT camera semantics (HA 2025.4): the payload on ``topic``
is the picture, raw bytes or, with ``image_encoding: b64``, base64 (a payload that does not
decode is ignored). The picture is kept on the entity (at most ``MAX_IMAGE`` bytes, a larger
one is rejected), the state stays ``idle`` as HA's. Unlike HA, the pictures of all entities
share the hub's budget (``hub.max_picture_bytes``, :mod:`spark.core.pictures`): a new one drops
the least recently updated others when it would pass it, one larger than it is rejected."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from spark.core.discovery.models import DiscoveredEntity, SubTopic
from spark.core.errors import PayloadError
from spark.core.platforms.base import IGNORE, Entity, Platform

MAX_IMAGE = 8 * 1024 * 1024  # bytes of a picture kept (a camera's JPEG is far smaller)


def picture(entity: Entity, payload: bytes) -> bytes | None:
    """The picture in ``payload`` (decoded for ``image_encoding: b64``); None: not one."""
    if entity.spec.image_encoding == "b64":
        if len(payload) > MAX_IMAGE * 4 // 3 + 4:
            raise PayloadError(f"{entity.entity_id}: picture larger than {MAX_IMAGE} bytes")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            return None
    if len(payload) > MAX_IMAGE:
        raise PayloadError(f"{entity.entity_id}: picture larger than {MAX_IMAGE} bytes")
    return payload


def keep(entity: Entity, image: bytes) -> None:
    """Make ``image`` the entity's picture, within the hub's picture budget when it has one."""
    budget = entity.pictures
    if budget is None:
        entity.image = image
    else:
        budget.keep(entity, image)


class CameraSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"state_topic", "command_topic"})  # HA's camera reads ``topic``
    REQUIRED = ("topic",)

    topic: SubTopic = None


class Camera(Platform):
    name = "camera"
    Schema = CameraSchema
    state_topics = ("topic",)
    display = "image"

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        image = picture(entity, payload)
        if image is None:
            return IGNORE
        keep(entity, image)
        return "idle"
