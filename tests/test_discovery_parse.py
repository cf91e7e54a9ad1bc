"""Parsing third-party Home Assistant discovery payloads (captured-style fixtures)."""

from __future__ import annotations

import copy

from discovery_samples import fixture, parse_one, topic

from spark.core.discovery import DiscoveredEntity, Removal, normalize, parse_discovery
from spark.core.discovery.abbreviations import (
    ABBREVIATIONS,
    DEVICE_ABBREVIATIONS,
    ORIGIN_ABBREVIATIONS,
)


# ---- abbreviation tables ---------------------------------------------------------------------
def test_abbreviation_tables_cover_what_devices_send() -> None:
    expected = {
        "stat_t": "state_topic",
        "cmd_t": "command_topic",
        "avty": "availability",
        "avty_t": "availability_topic",
        "avty_mode": "availability_mode",
        "uniq_id": "unique_id",
        "dev_cla": "device_class",
        "stat_cla": "state_class",
        "unit_of_meas": "unit_of_measurement",
        "ent_cat": "entity_category",
        "exp_aft": "expire_after",
        "json_attr_t": "json_attributes_topic",
        "json_attr_tpl": "json_attributes_template",
        "val_tpl": "value_template",
        "cmd_tpl": "command_template",
        "pl_on": "payload_on",
        "pl_off": "payload_off",
        "pl_avail": "payload_available",
        "pl_not_avail": "payload_not_available",
        "pl_prs": "payload_press",
        "stat_on": "state_on",
        "stat_off": "state_off",
        "img_t": "image_topic",
        "evt_typ": "event_types",
        "ops": "options",
        "cmps": "components",
        "p": "platform",
        "o": "origin",
        "dev": "device",
        "obj_id": "object_id",
        "def_ent_id": "default_entity_id",
        "sug_dsp_prc": "suggested_display_precision",
        "frc_upd": "force_update",
        "ic": "icon",
        "en": "enabled_by_default",
        "opt": "optimistic",
        "ret": "retain",
        "t": "topic",
        "bri_stat_t": "brightness_state_topic",
        "url_t": "url_topic",
    }
    for short, long in expected.items():
        assert ABBREVIATIONS[short] == long
    for short in ("min", "max", "step", "name", "mode"):
        assert ABBREVIATIONS[short] == short
    assert len(ABBREVIATIONS) > 250
    assert dict(DEVICE_ABBREVIATIONS) == {
        "cns": "connections",
        "cu": "configuration_url",
        "hw": "hw_version",
        "ids": "identifiers",
        "mdl": "model",
        "mdl_id": "model_id",
        "mf": "manufacturer",
        "name": "name",
        "sa": "suggested_area",
        "sn": "serial_number",
        "sw": "sw_version",
    }
    assert dict(ORIGIN_ABBREVIATIONS) == {"name": "name", "sw": "sw_version", "url": "support_url"}
    assert len(set(ABBREVIATIONS.values())) == len(ABBREVIATIONS)  # no two shorts for one key


# ---- normalize -------------------------------------------------------------------------------
def test_normalize_expands_every_level_and_resolves_topic_base() -> None:
    raw = {
        "~": "home/plug",
        "stat_t": "~/state",
        "cmd_t": "cmnd/~",
        "json_attr_t": "~",
        "val_tpl": "{{ value }}",
        "topic_note": "~/kept",
        "dev": {"ids": ["x"], "mf": "Acme", "sn": "42", "mdl_id": "P1"},
        "o": {"name": "acme2mqtt", "sw": "1.0", "url": "https://acme.example"},
        "avty": [{"t": "~/lwt", "pl_avail": "up", "pl_not_avail": "down", "val_tpl": "{{ x }}"}],
    }
    before = copy.deepcopy(raw)
    out = normalize(raw)
    assert raw == before  # pure
    assert "~" not in out
    assert out["state_topic"] == "home/plug/state"
    assert out["command_topic"] == "cmnd/home/plug"
    assert out["json_attributes_topic"] == "home/plug"
    assert out["topic_note"] == "~/kept"
    assert out["value_template"] == "{{ value }}"
    assert out["device"] == {
        "identifiers": ["x"],
        "manufacturer": "Acme",
        "serial_number": "42",
        "model_id": "P1",
    }
    assert out["origin"] == {
        "name": "acme2mqtt",
        "sw_version": "1.0",
        "support_url": "https://acme.example",
    }
    assert out["availability"] == [
        {
            "topic": "home/plug/lwt",
            "payload_available": "up",
            "payload_not_available": "down",
            "value_template": "{{ x }}",
        }
    ]


def test_abbreviation_wins_over_long_key_like_home_assistant() -> None:
    assert normalize({"stat_t": "a", "state_topic": "b"})["state_topic"] == "a"
    assert normalize({"state_topic": "b", "stat_t": "a"})["state_topic"] == "a"


def test_normalize_components_use_their_own_or_the_device_topic_base() -> None:
    out = normalize(
        {
            "~": "base",
            "cmps": {
                "a": {"p": "sensor", "stat_t": "~/a"},
                "b": {"p": "sensor", "~": "other", "stat_t": "~/b", "avty": {"t": "~/lwt"}},
                "c": "not a mapping",
            },
        }
    )
    comps = out["components"]
    assert comps["a"] == {"platform": "sensor", "state_topic": "base/a"}
    assert comps["b"] == {
        "platform": "sensor",
        "state_topic": "other/b",
        "availability": {"topic": "other/lwt"},
    }
    assert comps["c"] == "not a mapping"


# ---- captured-style payloads -----------------------------------------------------------------
def test_zigbee2mqtt_aqara_temperature_sensor() -> None:
    t = "homeassistant/sensor/0x00158d0001a2b3c4/temperature/config"
    e = parse_one(t, fixture("z2m_aqara_temperature.json"))
    assert (e.component, e.node_id, e.object_id) == ("sensor", "0x00158d0001a2b3c4", "temperature")
    assert e.discovery_topic == t
    assert e.key == "0x00158d0001a2b3c4_temperature_zigbee2mqtt"
    assert e.default_entity_id == "sensor.living_room_climate_temperature"
    assert e.value_template == "{{ value_json.temperature }}"
    assert (e.device_class, e.state_class, e.unit_of_measurement) == (
        "temperature",
        "measurement",
        "°C",
    )
    assert e.availability_mode == "all"
    assert [a.topic for a in e.availability] == [
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/living_room_climate/availability",
    ]
    assert all(a.payload_available == "online" for a in e.availability)
    assert e.availability[0].value_template == "{{ value_json.state }}"
    assert e.device is not None
    assert e.device.identifiers == ["zigbee2mqtt_0x00158d0001a2b3c4"]
    assert e.device.model_id == "WSDCGQ11LM"
    assert e.device.via_device == "zigbee2mqtt_bridge_0x00124b0024c1a2b3"
    assert e.origin is not None and e.origin.sw_version == "1.40.2"
    assert e.payload_on is None  # sensors have no on/off payloads
    # state and attributes share a topic: subscribed once
    assert e.state_topics() == (
        "zigbee2mqtt/living_room_climate",
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/living_room_climate/availability",
    )


def test_zigbee2mqtt_json_light() -> None:
    e = parse_one("homeassistant/light/0x680ae2fffe1a2b3c/light/config", fixture("z2m_light.json"))
    assert e.component == "light"
    assert e.light_schema == "json"
    assert e.name is None and "name" in e.raw  # null name: use the device name
    assert e.command_topic == "zigbee2mqtt/kitchen_ceiling/set"
    assert e.raw["brightness_scale"] == 254 and e.raw["supported_color_modes"] == ["color_temp"]
    assert (e.payload_on, e.payload_off) == ("ON", "OFF")
    assert e.state_topics()[0] == "zigbee2mqtt/kitchen_ceiling"
    assert "zigbee2mqtt/kitchen_ceiling/set" not in e.state_topics()


def test_zigbee2mqtt_boolean_payloads_are_coerced_like_home_assistant() -> None:
    e = parse_one(
        "homeassistant/binary_sensor/0x00158d00045a6b7c/occupancy/config",
        fixture("z2m_motion_occupancy.json"),
    )
    # HA's cv.string turns true/false into "True"/"False", which is what the template prints
    assert (e.payload_on, e.payload_off) == ("True", "False")


def test_tasmota_relay_with_topic_base() -> None:
    e = parse_one("homeassistant/switch/A1B2C3_RL_1/config", fixture("tasmota_relay.json"))
    assert (e.component, e.node_id, e.object_id) == ("switch", None, "A1B2C3_RL_1")
    assert e.state_topic == "tasmota_A1B2C3/tele/STATE"
    assert e.command_topic == "tasmota_A1B2C3/cmnd/POWER"
    assert e.value_template == "{{value_json.POWER}}"
    assert len(e.availability) == 1
    avty = e.availability[0]
    assert (avty.topic, avty.payload_available, avty.payload_not_available) == (
        "tasmota_A1B2C3/tele/LWT",
        "Online",
        "Offline",
    )
    assert e.device is not None
    assert e.device.connections == [("mac", "24:62:AB:A1:B2:C3")]
    assert e.device.manufacturer == "Tasmota"
    assert "~" not in e.raw and "stat_t" not in e.raw


def test_esphome_sensor_abbreviated() -> None:
    e = parse_one(
        "homeassistant/sensor/garagedoor1/garage_temperature/config",
        fixture("esphome_sensor.json"),
    )
    assert e.unique_id == "ESPsensorgarage_temperature"
    assert e.suggested_display_precision == 1
    assert e.device is not None and e.device.identifiers == ["246f28a1b2c3"]  # single id
    assert e.availability[0].topic == "garagedoor1/status"
    assert e.availability[0].payload_available == "online"
    assert e.state_topics() == (
        "garagedoor1/sensor/garage_temperature/state",
        "garagedoor1/status",
    )


def test_frigate_style_binary_sensor_and_image() -> None:
    occupancy = parse_one(
        "homeassistant/binary_sensor/frigate/front_door_person/config",
        fixture("frigate_person_occupancy.json"),
    )
    assert occupancy.device_class == "occupancy"
    assert occupancy.value_template == "{{ 'ON' if value | int > 0 else 'OFF' }}"
    assert occupancy.device is not None and occupancy.device.via_device == "frigate_server"
    image = parse_one(
        "homeassistant/image/frigate/front_door_person_snapshot/config",
        fixture("frigate_person_snapshot.json"),
    )
    assert image.image_topic == "frigate/front_door/person/snapshot"
    assert image.content_type == "image/jpeg"
    assert image.state_topics() == ("frigate/front_door/person/snapshot", "frigate/available")


def test_camera_and_trigger_topics_are_subscribed() -> None:
    camera = parse_one(
        "homeassistant/camera/frigate/front_door/config",
        b'{"name":"Front Door","uniq_id":"cam1","t":"frigate/front_door/snapshot"}',
    )
    assert camera.state_topics() == ("frigate/front_door/snapshot",)
    trigger = parse_one(
        "homeassistant/device_automation/0x0017/action_single/config",
        b'{"atype":"trigger","t":"zigbee2mqtt/remote/action","type":"action","stype":"single",'
        b'"pl":"single","dev":{"ids":["zigbee2mqtt_0x0017"]}}',
    )
    assert trigger.raw["automation_type"] == "trigger" and trigger.raw["subtype"] == "single"
    assert trigger.state_topics() == ("zigbee2mqtt/remote/action",)
    assert trigger.key == "device_automation.0x0017.action_single"  # no unique_id


def test_device_based_discovery_with_components_and_a_removal() -> None:
    t = "homeassistant/device/weather01/config"
    items = parse_discovery(topic(t), fixture("device_weather_station.json"), raw_topic=t)
    assert isinstance(items, list)
    by_id = {item.object_id: item for item in items}
    assert set(by_id) == {"temperature", "humidity", "heater", "reset", "rain"}

    removal = by_id["rain"]
    assert isinstance(removal, Removal)
    assert removal.discovery_id == ("binary_sensor", "weather01", "rain")
    assert not removal.is_device

    temp = by_id["temperature"]
    assert isinstance(temp, DiscoveredEntity)
    assert (temp.component, temp.node_id, temp.key) == ("sensor", "weather01", "weather01_t")
    assert temp.state_topic == "bla2mqtt/weather01/state"  # inherited, '~' resolved
    assert temp.qos == 1  # inherited
    assert [a.topic for a in temp.availability] == ["bla2mqtt/weather01/availability"]
    assert temp.device is not None and temp.device.serial_number == "weather01"
    assert temp.origin is not None
    assert temp.origin.support_url == "https://bla2mqtt.example.com/support"

    humidity = by_id["humidity"]
    assert isinstance(humidity, DiscoveredEntity) and humidity.qos == 0  # own value wins

    heater = by_id["heater"]
    assert isinstance(heater, DiscoveredEntity)
    assert heater.state_topic == "bla2mqtt/weather01/heater"  # device-level '~' applies
    assert heater.command_topic == "bla2mqtt/weather01/heater/set"
    assert heater.entity_category == "config"

    reset = by_id["reset"]
    assert isinstance(reset, DiscoveredEntity)
    assert reset.payload_press == "PRESS"
    # its own availability list replaces the shared availability_topic instead of clashing
    assert [(a.topic, a.payload_available) for a in reset.availability] == [
        ("bla2mqtt/weather01/bridge", "up")
    ]


def test_empty_payload_is_a_removal() -> None:
    t = "homeassistant/sensor/node/temp/config"
    assert parse_discovery(topic(t), b"", raw_topic=t) == Removal(t, "sensor", "node", "temp")
    device = parse_discovery(topic("homeassistant/device/weather01/config"), b"")
    assert isinstance(device, Removal) and device.is_device
    assert device.discovery_topic == "device/weather01/config"


def test_defaults_per_platform() -> None:
    switch = parse_one("homeassistant/switch/n/s/config", b'{"cmd_t":"a/set","uniq_id":"s"}')
    assert (switch.payload_on, switch.payload_off, switch.qos, switch.retain) == (
        "ON",
        "OFF",
        0,
        False,
    )
    assert switch.availability == [] and switch.availability_mode == "latest"
    assert switch.enabled_by_default is True
    button = parse_one("homeassistant/button/n/b/config", b'{"cmd_t":"a/press"}')
    assert button.payload_press == "PRESS" and button.payload_on is None
    assert button.key == "button.n.b"
    sensor = parse_one("homeassistant/sensor/s/config", b'{"stat_t":"a","unique_id":7}')
    assert sensor.unique_id == "7" and sensor.light_schema is None and sensor.node_id is None
    light = parse_one("homeassistant/light/n/l/config", b'{"cmd_t":"l/set"}')
    assert light.light_schema == "basic"


def test_single_availability_topic_with_template() -> None:
    e = parse_one(
        "homeassistant/sensor/n/t/config",
        b'{"stat_t":"s","avty_t":"lwt","avty_tpl":"{{ value_json.ok }}","pl_avail":1}',
    )
    assert len(e.availability) == 1
    assert e.availability[0].value_template == "{{ value_json.ok }}"
    assert e.availability[0].payload_available == "1"
    assert e.availability[0].payload_not_available == "offline"


def test_event_select_number_and_unknown_keys() -> None:
    event = parse_one(
        "homeassistant/event/n/e/config",
        b'{"stat_t":"btn","evt_typ":["press","hold"],"unknown_future_key":{"x":1}}',
    )
    assert event.event_types == ["press", "hold"]
    assert event.raw["unknown_future_key"] == {"x": 1}
    select = parse_one(
        "homeassistant/select/n/s/config", b'{"cmd_t":"s/set","ops":["a","b"],"def_ent_id":"x.y"}'
    )
    assert select.options == ["a", "b"] and select.default_entity_id == "x.y"
    number = parse_one(
        "homeassistant/number/n/n/config",
        b'{"cmd_t":"n/set","min":"0","max":100,"step":0.5,"mode":"slider","exp_aft":60}',
    )
    assert (number.min, number.max, number.step, number.mode) == (0.0, 100.0, 0.5, "slider")
    assert number.expire_after == 60


COMPACT_CASES = [
    ("homeassistant/sensor/n/a/config", fixture("esphome_sensor.json")),
    ("homeassistant/switch/n/b/config", fixture("tasmota_relay.json")),
    ("homeassistant/light/n/c/config", fixture("z2m_light.json")),
    ("homeassistant/binary_sensor/n/d/config", fixture("z2m_motion_occupancy.json")),
    # values pydantic coerces ("12.5" -> 12.5, "30" -> 30) and values equal to a default
    ("homeassistant/number/n/e/config",
     b'{"command_topic": "x/set", "min": "1", "max": "12.5", "step": 1.0, "mode": "auto",'
     b' "state_topic": "x", "unique_id": "e", "expire_after": "30", "force_update": false}'),
    ("homeassistant/climate/n/f/config",
     b'{"mode_command_topic": "y/mode", "max_temp": "35", "temp_step": "1", "qos": "0",'
     b' "min_humidity": 30, "modes": ["off", "heat"], "unique_id": "f", "optimistic": false}'),
]


def test_compact_reads_back_every_field_as_parsed():
    """compact() drops what the config holds itself and what holds its default: every field
    of the compacted config reads back the same value, of the same type, as before."""
    for topic_text, payload in COMPACT_CASES:
        spec = parse_one(topic_text, payload)
        before = {name: getattr(spec, name) for name in type(spec).model_fields}
        spec.compact()
        assert len(spec.__dict__) < len(before)
        for name, value in before.items():
            after = getattr(spec, name)
            assert after == value and type(after) is type(value), (topic_text, name, after)
