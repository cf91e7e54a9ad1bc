"""The ``lock`` platform (core/platforms/lock.py): HA's MQTT lock semantics, alone and through a
real hub and Mosquitto with a third-party lock answering its commands.

Cases after Home Assistant's ``tests/components/mqtt/test_lock.py`` (state via topic with default
and custom payloads, reset, templates, open only with ``payload_open``, optimistic without a
state topic), written for our hub.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from helpers import wait_for
from lab import publish_as, recorder, running_hub

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError, ServiceError
from spark.core.mqtt import Message, MqttClient
from spark.core.platforms import platform_for
from spark.core.topics import DiscoveryTopic
from spark.hub.entity import EntityRecord

LOCK = platform_for("lock")


def lock_record(config: dict[str, Any]) -> EntityRecord:
    topic = DiscoveryTopic("lock", "door", "front")
    (spec,) = parse_discovery(topic, orjson.dumps({"unique_id": "door-1", **config}))
    assert isinstance(spec, DiscoveredEntity)
    return EntityRecord("lock.front", spec.key, spec, None)


def test_the_catalogue_knows_lock_with_its_services_and_control():
    assert LOCK.name == "lock" and LOCK.services == ("lock", "unlock", "open")
    assert LOCK.control is not None and LOCK.control.call(True) == ("lock", {})
    assert LOCK.control.call(False) == ("unlock", {})
    assert LOCK.words.listed and not LOCK.words.switchable


@pytest.mark.parametrize(("payload", "state"), [
    (b"LOCKED", "locked"), (b"UNLOCKED", "unlocked"), (b"LOCKING", "locking"),
    (b"UNLOCKING", "unlocking"), (b"JAMMED", "jammed"), (b"OPEN", "open"),
    (b"OPENING", "opening"), (b"None", None),
])
def test_state_via_topic_with_default_payloads(payload: bytes, state: str | None):
    record = lock_record({"state_topic": "door/state", "command_topic": "door/set"})
    assert LOCK.state(record, payload) == state


def test_state_via_topic_with_custom_payloads_and_reset():
    record = lock_record({
        "stat_t": "door/state", "cmd_t": "door/set", "stat_locked": "closed",
        "stat_unlocked": "free", "stat_jam": "stuck", "pl_rst": "RESET",
    })
    assert LOCK.state(record, b"closed") == "locked"
    assert LOCK.state(record, b"free") == "unlocked"
    assert LOCK.state(record, b"stuck") == "jammed"
    assert LOCK.state(record, b"RESET") is None
    with pytest.raises(PayloadError, match="not a lock state"):
        LOCK.state(record, b"LOCKED")  # the defaults no longer apply


def test_commands_and_open_only_when_configured():
    plain = lock_record({"state_topic": "door/state", "command_topic": "door/set",
                         "payload_lock": "CLOSE"})
    assert (LOCK.command(plain, "lock", {}).payload,
            LOCK.command(plain, "lock", {}).expect) == ("CLOSE", "locked")
    assert LOCK.command(plain, "unlock", {}).payload == "UNLOCK"
    with pytest.raises(ServiceError, match="payload_open"):
        LOCK.command(plain, "open", {})
    with pytest.raises(ServiceError, match="does not apply"):
        LOCK.command(plain, "turn_on", {})
    opener = lock_record({"command_topic": "door/set", "pl_open": "UNLATCH"})
    assert LOCK.command(opener, "open", {}).payload == "UNLATCH"


def test_discovery_needs_a_command_topic():
    with pytest.raises(PayloadError, match="command_topic"):
        lock_record({"state_topic": "door/state"})


# ---- through the hub, against Mosquitto -------------------------------------------------------
DOOR = {
    "name": "Front door", "unique_id": "z2m_front_door_lock", "object_id": "front_door",
    "state_topic": "zigbee2mqtt/front_door", "command_topic": "zigbee2mqtt/front_door/set",
    "value_template": "{{ value_json.state }}",
    "command_template": '{"state": "{{ value }}"}',
    "payload_open": "OPEN",
    "device": {"identifiers": ["zigbee2mqtt_0x00aa"], "name": "front_door"},
}
SHED = {  # no state topic: optimistic
    "name": "Shed", "unique_id": "z2m_shed_lock", "object_id": "shed",
    "command_topic": "zigbee2mqtt/shed/set",
}


@pytest.fixture
def cfg(broker):
    return broker.spark_config(nodes=[])


async def test_lock_round_trip_through_the_hub(broker, cfg):
    pw = broker.passwords
    answers = {"LOCK": ("LOCKING", "LOCKED"), "UNLOCK": ("UNLOCKING", "UNLOCKED"),
               "OPEN": ("OPENING", "OPEN")}
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/shed/set") as rec, \
            MqttClient(cfg.mqtt, "door-device", username="zigbee2mqtt",
                       password=pw["zigbee2mqtt"]) as device:
        def on_command(msg: Message) -> None:  # the lock: moves, then reports where it is
            for state in answers[orjson.loads(msg.payload)["state"]]:
                device.publish("zigbee2mqtt/front_door", orjson.dumps({"state": state}), 1)

        device.subscribe("zigbee2mqtt/front_door/set", on_command, 1)
        await device.wait_connected(10)
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/lock/0x00aa/lock/config", orjson.dumps(DOOR), True),
            ("homeassistant/lock/0x00bb/lock/config", orjson.dumps(SHED), True),
            ("zigbee2mqtt/front_door", b'{"state": "UNLOCKED"}', True),
        ])
        reg, services = hub.registry, hub.services
        await wait_for(lambda: reg.get("lock.front_door") is not None
                       and reg.get("lock.front_door").state == "unlocked"
                       and reg.get("lock.shed") is not None, 10)

        result = await services.call("lock", "lock.front_door", wait=True)
        assert result["state"] == "locked" and result["payload"] == '{"state": "LOCK"}'
        assert (await services.call("open", "lock.front_door", wait=True))["state"] == "open"
        assert (await services.call("unlock", "lock.front_door", wait=True))["state"] == "unlocked"

        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("zigbee2mqtt/front_door", b'{"state": "JAMMED"}', False)])
        await wait_for(lambda: reg.get("lock.front_door").state == "jammed", 5)

        # optimistic: nothing confirms, so the call returns once published
        result = await services.call("lock", "lock.shed", wait=True)
        assert result["payload"] == "LOCK"
        with pytest.raises(ServiceError, match="payload_open"):
            await services.call("open", "lock.shed")
        await wait_for(lambda: rec.payloads("zigbee2mqtt/shed/set") == [b"LOCK"], 5)
