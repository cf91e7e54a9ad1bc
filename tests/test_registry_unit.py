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
    assert [e.available for e in [events.queue.get_nowait(), events.queue.get_nowait()]] == [
        False, True]


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
