"""``switch``: an on/off state with ``turn_on`` / ``turn_off`` / ``toggle`` (payloads default to
``ON`` / ``OFF``), a toggle in the panel, "turn on / off" for voice. As Home Assistant 2025.4's
MQTT switch: ``None`` makes it unknown, an empty payload is ignored."""

from __future__ import annotations

from spark.core.platforms.base import OnOff, OnOffSchema, Words


class SwitchSchema(OnOffSchema):
    REQUIRED = ("command_topic",)


class Switch(OnOff):
    name = "switch"
    Schema = SwitchSchema
    words = Words(listed=True, switchable=True, ha_domains=("sensor",))
