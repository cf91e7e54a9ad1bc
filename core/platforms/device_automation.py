"""``device_automation``: known to discovery only (its required keys); no state mapping or
service yet."""

from __future__ import annotations

from spark.core.discovery.models import DiscoveredEntity
from spark.core.platforms.base import Platform


class DeviceAutomationSchema(DiscoveredEntity):
    REQUIRED = ("automation_type", "topic", "type", "subtype")


class DeviceAutomation(Platform):
    name = "device_automation"
    Schema = DeviceAutomationSchema
