"""``lock``: known to discovery only (it needs a ``command_topic``); no state mapping or service
yet."""

from __future__ import annotations

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import Platform


class LockSchema(DiscoveredEntity):
    REQUIRED = ("command_topic",)


class Lock(Platform):
    name = "lock"
    Schema = LockSchema
