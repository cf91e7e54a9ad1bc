"""``device_automation``: device triggers (a Zigbee2MQTT remote's ``action``, a Tasmota button),
as Home Assistant's MQTT device trigger (2025.4).

A trigger is not an entity: the registry keeps it beside its device (``Registry.triggers``, id
``device_trigger.<device>_<type>_<subtype>``) and each message on its ``topic`` that matches
(after ``value_template``; when ``payload`` is set the rendered message must equal it) fires
an :class:`~core.events.EntityFired` event with ``event_type`` = the trigger's ``type`` and
``subtype``, ``payload`` and ``device_id`` in its data: the event stream, the recorder and the
bridges see it as they see an event entity's firing.
"""

from __future__ import annotations

from typing import Any, Literal

from spark.core.discovery.models import (
    AVAILABILITY_OPTIONS,
    DiscoveredEntity,
    OptStr,
    Str,
    SubTopic,
)
from spark.core.platforms.base import IGNORE, Entity, Fired, Platform


class DeviceAutomationSchema(DiscoveredEntity):
    # HA's trigger schema: ``topic``, qos and encoding; no availability
    NOT_INHERITED = AVAILABILITY_OPTIONS | {"state_topic", "command_topic"}
    REQUIRED = ("automation_type", "topic", "type", "subtype")

    automation_type: Literal["trigger"] = "trigger"
    topic: SubTopic = None
    type: Str = ""
    subtype: Str = ""
    payload: OptStr = None


class DeviceAutomation(Platform):
    name = "device_automation"
    Schema = DeviceAutomationSchema
    state_topics = ("topic",)

    def topic_state(self, entity: Entity, key: str, payload: bytes) -> Any:
        value = self.render(entity, payload)
        raw = entity.spec.raw
        wanted = raw.get("payload")
        if wanted is not None and value != str(wanted):
            return IGNORE
        return Fired(str(raw.get("type", "")), {"subtype": str(raw.get("subtype", "")),
                                                "payload": value[:1000]})
