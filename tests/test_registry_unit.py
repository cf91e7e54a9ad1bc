"""Registry behaviour that needs no broker: fed with messages built in the test."""

from __future__ import annotations

import orjson
import paho.mqtt.client as paho

from spark.core.events import AvailabilityChanged, EventBus, StateChanged
from spark.core.topics import TopicLayout
from spark.hub.registry import Registry


def message(topic: str, payload: bytes | str, retain: bool = False) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload.encode() if isinstance(payload, str) else payload
    msg.retain = retain
    return msg


def make_registry() -> tuple[Registry, EventBus, list[str]]:
    bus = EventBus()
    subscribed: list[str] = []
    reg = Registry(TopicLayout(), bus, subscribed.extend,
                   lambda topics: [subscribed.remove(t) for t in topics])
    return reg, bus, subscribed


def discover(reg: Registry, topic: str, config: dict) -> None:
    reg.on_discovery(message(topic, orjson.dumps(config), retain=True))


def test_expire_after_marks_unavailable_until_the_next_reading():
    reg, bus, _ = make_registry()
    events = bus.subscribe((AvailabilityChanged,))
    discover(reg, "homeassistant/sensor/th/t/config", {
        "unique_id": "th_t", "name": "T", "state_topic": "th/t", "unit_of_measurement": "°C",
        "expire_after": 60, "object_id": "th_t"})
    reg.on_message(message("th/t", "20.5"))
    record = reg.get("sensor.th_t")
    assert record.available and record.state == "20.5"
    assert reg.expire(now=record.last_updated + 61) == 1
    assert not record.available
    reg.on_message(message("th/t", "20.7"))
    assert record.available and record.state == "20.7"
    # HA: unavailable until the first value, then again after each expiry
    assert [events.queue.get_nowait().available for _ in range(3)] == [True, False, True]


def test_shared_state_topic_and_late_joiner_gets_last_value():
    reg, _, subscribed = make_registry()
    discover(reg, "homeassistant/switch/plug/s/config", {
        "unique_id": "plug_s", "state_topic": "z2m/plug", "command_topic": "z2m/plug/set",
        "value_template": "{{ value_json.state }}", "object_id": "plug"})
    reg.on_message(message("z2m/plug", '{"state": "ON", "power": 3.5}'))
    # a second entity on the same topic, discovered after the state arrived
    discover(reg, "homeassistant/sensor/plug/p/config", {
        "unique_id": "plug_p", "state_topic": "z2m/plug", "unit_of_measurement": "W",
        "value_template": "{{ value_json.power }}", "object_id": "plug_power"})
    assert reg.get("switch.plug").state == "on"
    assert reg.get("sensor.plug_power").state == "3.5"
    assert subscribed.count("z2m/plug") == 1


def test_changed_config_updates_and_emptied_config_removes():
    reg, bus, subscribed = make_registry()
    changes = bus.subscribe((StateChanged,))
    topic = "homeassistant/sensor/dev/x/config"
    discover(reg, topic, {"unique_id": "x", "state_topic": "a/x", "object_id": "x"})
    discover(reg, topic, {"unique_id": "x", "state_topic": "b/x", "object_id": "x"})
    assert subscribed == ["b/x"]
    reg.on_message(message("a/x", "ignored"))
    reg.on_message(message("b/x", "hello"))
    assert reg.get("sensor.x").state == "hello" and changes.queue.qsize() == 1
    reg.on_discovery(message(topic, b"", retain=True))
    assert reg.get("sensor.x") is None and subscribed == [] and not reg.devices


def test_entity_ids_stay_unique_and_follow_default_entity_id():
    reg, _, _ = make_registry()
    discover(reg, "homeassistant/sensor/a/t/config",
             {"unique_id": "a_t", "state_topic": "a/t", "default_entity_id": "sensor.kitchen"})
    discover(reg, "homeassistant/sensor/b/t/config",
             {"unique_id": "b_t", "state_topic": "b/t", "object_id": "kitchen"})
    discover(reg, "homeassistant/sensor/c/t/config",
             {"unique_id": "c_t", "state_topic": "c/t", "name": "Temp",
              "device": {"identifiers": ["c"], "name": "Cellar"}})
    assert reg.by_unique_id("a_t").entity_id == "sensor.kitchen"
    assert reg.by_unique_id("b_t").entity_id == "sensor.kitchen_2"
    assert reg.by_unique_id("c_t").entity_id == "sensor.cellar_temp"


def test_wildcard_state_topic_gets_every_matching_message():
    """OpenMQTTGateway announces BLE sensors with ``+`` in the state topic (HA subscribes the
    filter and gives every matching message to the entity)."""
    reg, _, subscribed = make_registry()
    discover(reg, "homeassistant/sensor/ble/t/config", {
        "unique_id": "ble_t", "name": "BLE T", "object_id": "ble_t",
        "state_topic": "+/+/BTtoMQTT/A4C1381F2E3D", "value_template": "{{ value_json.tempc }}"})
    assert subscribed == ["+/+/BTtoMQTT/A4C1381F2E3D"]
    reg.on_message(message("home/OMG_ESP32_BLE/BTtoMQTT/A4C1381F2E3D", '{"tempc": 21.5}'))
    assert reg.get("sensor.ble_t").state == "21.5"
    reg.on_message(message("home/other/BTtoMQTT/A4C1381F2E3D", '{"tempc": 22}'))
    assert reg.get("sensor.ble_t").state == "22"
    reg.on_message(message("home/x/BTtoMQTT/FFFFFFFFFFFF", '{"tempc": 99}'))  # another device
    assert reg.get("sensor.ble_t").state == "22"
    reg.on_discovery(message("homeassistant/sensor/ble/t/config", b"", retain=True))  # removed
    assert subscribed == []


def test_filter_index_follows_mqtt_matching_rules():
    from spark.hub.routes import FilterIndex

    index = FilterIndex()
    filters = ["a/+/c", "a/#", "#", "+/b/c", "a/b/c", "+", "$SYS/#", "a/b/+/d"]
    for f in filters:
        index.add(f)
    cases = {
        "a/b/c": {"a/+/c", "a/#", "#", "+/b/c", "a/b/c"},
        "a": {"a/#", "#", "+"},
        "$SYS/x": {"$SYS/#"},
        "a/b/x/d": {"a/#", "#", "a/b/+/d"},
        "z": {"#", "+"},
    }
    from spark.core.topics import matches
    for topic, wanted in cases.items():
        assert set(index.match(topic)) == wanted, topic
        assert wanted == {f for f in filters if matches(f, topic)}, topic
    for f in filters:
        index.discard(f)
    assert len(index) == 0 and index.match("a/b/c") == []


def test_force_update_reports_an_unchanged_state():
    reg, bus, _ = make_registry()
    events = bus.subscribe((StateChanged,))
    discover(reg, "homeassistant/sensor/m/p/config", {
        "unique_id": "m_p", "object_id": "m_p", "state_topic": "m/p", "force_update": True})
    for _ in range(3):
        reg.on_message(message("m/p", "5"))
    assert events.queue.qsize() == 3


Z2M_DEVICE = {"identifiers": ["zigbee2mqtt_0x00158d0001a2b3c4"], "name": "Hall remote",
              "model": "Wireless remote switch", "model_id": "WXKG01LM",
              "connections": [["zigbee", "0x00158d0001a2b3c4"]]}


def test_device_trigger_fires_an_event_with_its_type_subtype_and_device():
    """Zigbee2MQTT announces each remote action as a device trigger (HA: not an entity)."""
    from spark.core.events import EntityFired

    reg, bus, subscribed = make_registry()
    fired = bus.subscribe((EntityFired,))
    for action in ("single", "double"):
        discover(reg, f"homeassistant/device_automation/0x00158d0001a2b3c4/action_{action}/config",
                 {"automation_type": "trigger", "type": "action", "subtype": action,
                  "payload": action, "topic": "zigbee2mqtt/Hall remote/action",
                  "device": Z2M_DEVICE, "origin": {"name": "Zigbee2MQTT"}})
    assert subscribed == ["zigbee2mqtt/Hall remote/action"]
    assert len(reg.triggers) == 2 and not reg.entities
    device = reg.devices["zigbee2mqtt_0x00158d0001a2b3c4"]
    assert device.model_id == "WXKG01LM"
    assert device.connections == [("zigbee", "0x00158d0001a2b3c4")]
    assert sorted(device.triggers) == ["device_trigger.hall_remote_action_double",
                                       "device_trigger.hall_remote_action_single"]
    reg.on_message(message("zigbee2mqtt/Hall remote/action", "double"))
    reg.on_message(message("zigbee2mqtt/Hall remote/action", "hold"))  # no trigger for it
    event = fired.queue.get_nowait()
    assert (event.entity_id, event.event_type) == ("device_trigger.hall_remote_action_double",
                                                   "action")
    assert event.data == {"subtype": "double", "payload": "double",
                          "device_id": "zigbee2mqtt_0x00158d0001a2b3c4"}
    assert fired.queue.empty()
    assert [t["subtype"] for t in reg.snapshot()["triggers"]] == ["single", "double"]
    reg.on_discovery(message(
        "homeassistant/device_automation/0x00158d0001a2b3c4/action_single/config", b"",
        retain=True))
    reg.on_discovery(message(
        "homeassistant/device_automation/0x00158d0001a2b3c4/action_double/config", b"",
        retain=True))
    assert not reg.triggers and not reg.devices and subscribed == []


def test_tag_scanner_fires_tag_scanned_with_the_rendered_id():
    from spark.core.events import EntityFired

    reg, bus, _ = make_registry()
    fired = bus.subscribe((EntityFired,))
    discover(reg, "homeassistant/tag/reader/config", {
        "topic": "tasmota/reader/tele/RESULT", "value_template": "{{ value_json.PN532.UID }}",
        "device": {"identifiers": ["reader"], "name": "Door reader"}})
    reg.on_message(message("tasmota/reader/tele/RESULT", '{"PN532": {"UID": "E9F35959"}}'))
    reg.on_message(message("tasmota/reader/tele/RESULT", '{"PN532": {"UID": ""}}'))  # ignored
    event = fired.queue.get_nowait()
    assert event.event_type == "tag_scanned" and event.data["tag_id"] == "E9F35959"
    assert fired.queue.empty()


def test_event_entity_state_is_an_iso_timestamp():
    from datetime import datetime

    reg, _, _ = make_registry()
    discover(reg, "homeassistant/event/door/bell/config", {
        "unique_id": "bell", "object_id": "bell", "state_topic": "door/bell",
        "event_types": ["press"]})
    reg.on_message(message("door/bell", '{"event_type": "press"}'))
    state = reg.get("event.bell").state
    assert datetime.fromisoformat(state).tzinfo is not None


def test_enabled_by_default_false_registers_the_entity_disabled_without_state():
    reg, _, subscribed = make_registry()
    discover(reg, "homeassistant/sensor/0x1/linkquality/config", {
        "unique_id": "0x1_lqi", "object_id": "lqi", "state_topic": "z2m/plug",
        "value_template": "{{ value_json.linkquality }}", "enabled_by_default": False})
    record = reg.get("sensor.lqi")
    assert record is not None and record.as_dict()["enabled"] is False
    assert subscribed == []
    reg.on_message(message("z2m/plug", '{"linkquality": 80}'))
    assert record.state is None


async def test_off_delay_turns_a_button_off_after_each_press():
    """A Tasmota button sends only ON: with off_delay every press shows as on -> off."""
    import asyncio

    reg, bus, _ = make_registry()
    changes = bus.subscribe((StateChanged,))
    discover(reg, "homeassistant/binary_sensor/tasmota/button1/config", {
        "unique_id": "btn1", "object_id": "btn1", "state_topic": "stat/tasmota/BUTTON1",
        "payload_on": "ON", "off_delay": 0.05})
    seen: list[str | None] = []
    for _ in range(3):
        reg.on_message(message("stat/tasmota/BUTTON1", "ON"))
        for _ in range(2):
            async with asyncio.timeout(5):
                seen.append((await changes.get()).new_state)
    assert seen == ["on", "off"] * 3


def test_migrate_discovery_then_the_same_config_on_the_new_topic_moves_ownership():
    """HA's migrate_discovery: the old topic lets go, the same (unchanged) config on the new
    topic takes the entity over; from then on only the new topic changes or removes it."""
    reg, _, _ = make_registry()
    config = {"unique_id": "mv_t", "name": "T", "state_topic": "mv/t", "object_id": "mv_t"}
    old, new = "homeassistant/sensor/old/t/config", "homeassistant/sensor/new/t/config"
    discover(reg, old, config)
    reg.on_discovery(message(old, b'{"migrate_discovery": true}', retain=True))
    discover(reg, new, config)
    assert reg.get("sensor.mv_t") is not None
    discover(reg, old, {**config, "name": "From the old topic"})  # refused: a conflict
    assert reg.get("sensor.mv_t").name == "T"
    reg.on_discovery(message(old, b"", retain=True))  # the old topic removes nothing
    assert reg.get("sensor.mv_t") is not None
    discover(reg, new, {**config, "name": "Renamed"})
    assert reg.get("sensor.mv_t").name == "Renamed"
    reg.on_discovery(message(new, b"", retain=True))
    assert reg.get("sensor.mv_t") is None
