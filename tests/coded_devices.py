"""A lock and an alarm panel that need codes, announced by a third party (the ``zigbee2mqtt``
account) on the test Mosquitto, and the devices behind them.

The lock (``code_format`` ``^\\d{4}$``, HA's ``command_template`` with ``code``) moves only for
its own code, which reaches it in the command: a code of the right form but wrong is refused by
the device (it never confirms), one of the wrong form by the hub (nothing is published). The
alarm panel has a ``code`` in its config and ``code_arm_required: false``: the hub checks the
code (HA's MQTT alarm), the device takes every command.

Used by the panel's, the API's and the hostile-input code tests; the retained configs and states
are cleared when :func:`coded_world` ends (the test broker is shared).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
from helpers import Recorder

BASE = "zigbee2mqtt/coded"
LOCK_ID = "lock.coded_door"
ALARM_ID = "alarm_control_panel.coded_house"
LOCK_CODE = "2468"  # what the lock itself accepts
ALARM_CODE = "4711"  # the alarm panel's config code (the hub checks it)
DOOR_SET, DOOR_STATE = f"{BASE}/door/set", f"{BASE}/door/state"
ALARM_SET, ALARM_STATE = f"{BASE}/alarm/set", f"{BASE}/alarm/state"
LOCK_TOPIC = "homeassistant/lock/coded/door/config"
ALARM_TOPIC = "homeassistant/alarm_control_panel/coded/alarm/config"
ALARM_STATES = {"ARM_AWAY": "armed_away", "ARM_HOME": "armed_home", "DISARM": "disarmed"}


def lock_config(code_format: str = r"^\d{4}$") -> dict[str, Any]:
    return {"name": "Coded door", "unique_id": "coded_door", "default_entity_id": LOCK_ID,
            "state_topic": DOOR_STATE, "command_topic": DOOR_SET, "code_format": code_format,
            "command_template": '{"state": "{{ value }}", "code": "{{ code }}"}'}


def alarm_config(code: str = ALARM_CODE) -> dict[str, Any]:
    return {"name": "Coded house", "unique_id": "coded_house", "default_entity_id": ALARM_ID,
            "state_topic": ALARM_STATE, "command_topic": ALARM_SET, "code": code,
            "code_arm_required": False, "supported_features": ["arm_home", "arm_away"]}


class CodedDevices(Recorder):
    """The devices: records every command (``commands``) and answers those it takes with a
    retained state, as the hardware would."""

    def __init__(self, broker: Any, lock_code: str = LOCK_CODE) -> None:
        super().__init__(broker.host, broker.port, **broker.login("zigbee2mqtt"))
        self.lock_code = lock_code

    def _on_message(self, c: Any, u: Any, msg: paho.MQTTMessage) -> None:
        super()._on_message(c, u, msg)
        reply = self._answer(msg.topic, msg.payload)
        if reply is not None:  # (no wait here: this is paho's network thread)
            self.client.publish(reply[0], reply[1], 1, True)

    def _answer(self, topic: str, payload: bytes) -> tuple[str, str] | None:
        if topic == DOOR_SET:
            command = json.loads(payload)
            if command.get("code") != self.lock_code:
                return None  # the lock refuses: it does not move
            return DOOR_STATE, {"LOCK": "LOCKED", "UNLOCK": "UNLOCKED"}[command["state"]]
        if topic == ALARM_SET and payload.decode() in ALARM_STATES:
            return ALARM_STATE, ALARM_STATES[payload.decode()]
        return None

    def commands(self, topic: str) -> list[bytes]:
        return [bytes(m.payload) for m in self.received(topic)]


@contextlib.contextmanager
def coded_world(broker: Any, lock: dict[str, Any] | None = None,
                alarm: dict[str, Any] | None = None) -> Iterator[CodedDevices]:
    """The two configs and their first states (unlocked, disarmed) retained, the devices
    listening; a hub started inside finds them. Everything retained is cleared at the end."""
    retained = {LOCK_TOPIC: json.dumps(lock or lock_config()),
                ALARM_TOPIC: json.dumps(alarm or alarm_config()),
                DOOR_STATE: "UNLOCKED", ALARM_STATE: "disarmed"}
    with CodedDevices(broker) as devices:
        devices.connect()
        devices.subscribe(DOOR_SET, ALARM_SET)
        try:
            for topic, payload in retained.items():
                devices.publish(topic, payload, retain=True)
            yield devices
        finally:
            for topic in retained:
                devices.publish(topic, b"", retain=True)
