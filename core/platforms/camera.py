"""``camera``: known to discovery only (its required keys); no state mapping or service yet."""

from __future__ import annotations

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import Platform


class CameraSchema(DiscoveredEntity):
    REQUIRED = ("topic",)


class Camera(Platform):
    name = "camera"
    Schema = CameraSchema
