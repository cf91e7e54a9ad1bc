"""Device-based discovery's shared options (``stat_t``, ``cmd_t``, ``avty_t``, ``qos``, ``e`` at
the top level of ``<prefix>/device/<id>/config``), as Home Assistant treats them.

HA (``homeassistant/components/mqtt/discovery.py`` ``_merge_common_device_options``) copies each
shared option into every component that does not set its own, then the platform's
``DISCOVERY_SCHEMA`` (``vol.REMOVE_EXTRA``) drops the keys that platform does not have: a button
(HA's ``button.py`` has no ``state_topic``) is never subscribed to the shared state topic and gets
none of its messages, a sensor gets no command topic, a device trigger or tag scanner no
availability. The shared options themselves are validated once at the device level
(``schemas.py`` ``DEVICE_DISCOVERY_SCHEMA``): a bad one rejects the whole payload.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
import pytest
from discovery_samples import topic
from helpers import wait_for
from lab import publish_as, running_hub
from test_registry_unit import discover, make_registry, message

from spark.core.discovery import SHARED_OPTIONS, DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError
from spark.core.platforms import catalogue
from spark.hub.routing import routes_of

DEVICE_TOPIC = "homeassistant/device/0x00158d0001abcdef/config"
SHARED = {
    "~": "zigbee2mqtt/hall",
    "stat_t": "~",
    "cmd_t": "~/set",
    "avty_t": "~/availability",
    "qos": 1,
    "e": "utf-8",
}
# What a component inherits, by the shared option's long name (``availability_topic`` stands for
# the six availability options).
STATE, COMMAND, AVAIL = "state_topic", "command_topic", "availability_topic"
ENTITY = {STATE, COMMAND, AVAIL, "qos", "encoding"}


class Inherit(NamedTuple):
    platform: str
    own: dict[str, Any]  # the component's own keys (besides p and uniq_id)
    inherits: set[str]


CASES = [
    Inherit("sensor", {"val_tpl": "{{ value_json.temperature }}"}, ENTITY - {COMMAND}),
    Inherit("binary_sensor", {"val_tpl": "{{ value_json.contact }}"}, ENTITY - {COMMAND}),
    Inherit("event", {"evt_typ": ["single", "double"]}, ENTITY - {COMMAND}),
    Inherit("button", {"pl_prs": '{"identify": ""}'}, ENTITY - {STATE}),
    Inherit("scene", {}, ENTITY - {STATE}),
    Inherit("notify", {}, ENTITY - {STATE}),
    Inherit("switch", {"val_tpl": "{{ value_json.state }}"}, ENTITY),
    Inherit("light", {"schema": "json"}, ENTITY),
    Inherit("lock", {}, ENTITY),
    Inherit("cover", {}, ENTITY),
    Inherit("valve", {}, ENTITY),
    Inherit("fan", {}, ENTITY),
    Inherit("siren", {}, ENTITY),
    Inherit("number", {}, ENTITY),
    Inherit("select", {"ops": ["a", "b"]}, ENTITY),
    Inherit("text", {}, ENTITY),
    Inherit("update", {}, ENTITY),
    Inherit("vacuum", {}, ENTITY),
    Inherit("alarm_control_panel", {}, ENTITY),
    Inherit("humidifier", {"hum_cmd_t": "~/set/humidity"}, ENTITY),
    Inherit("climate", {"mode_cmd_t": "~/set/mode"}, ENTITY - {STATE, COMMAND}),
    Inherit("water_heater", {"mode_cmd_t": "~/set/mode"}, ENTITY - {STATE, COMMAND}),
    Inherit("lawn_mower", {"start_mowing_cmd_t": "~/set/start"}, ENTITY - {STATE, COMMAND}),
    Inherit("camera", {"t": "~/snapshot"}, ENTITY - {STATE, COMMAND}),
    Inherit("image", {"url_t": "~/url"}, ENTITY - {STATE, COMMAND}),
    Inherit("tag", {"t": "~/tag", "val_tpl": "{{ value_json.tag }}"}, {"qos", "encoding"}),
    Inherit("device_automation", {"atype": "trigger", "t": "~/action", "type": "action",
                                  "stype": "single", "pl": "single"}, {"qos", "encoding"}),
]


def device_payload(components: dict[str, dict[str, Any]], **shared: Any) -> bytes:
    return orjson.dumps({
        "dev": {"ids": ["zigbee2mqtt_0x00158d0001abcdef"], "name": "Hall", "mf": "Aqara"},
        "o": {"name": "Zigbee2MQTT", "sw": "2.1.0"},
        **SHARED, **shared, "cmps": components,
    })


def parse_device(payload: bytes) -> dict[str, DiscoveredEntity]:
    items = parse_discovery(topic(DEVICE_TOPIC), payload, raw_topic=DEVICE_TOPIC)
    assert isinstance(items, list)
    out = {}
    for item in items:
        assert isinstance(item, DiscoveredEntity)
        out[item.object_id or ""] = item
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.platform for c in CASES])
def test_a_component_inherits_only_the_shared_options_its_platform_has(case: Inherit) -> None:
    comp = {"p": case.platform, "uniq_id": f"hall_{case.platform}", **case.own}
    entity = parse_device(device_payload({"c": comp}))["c"]
    got = {key for key in ENTITY if key in entity.raw}
    assert got == case.inherits
    expected_state = "zigbee2mqtt/hall" if STATE in case.inherits else None
    assert entity.state_topic == expected_state
    expected_command = "zigbee2mqtt/hall/set" if COMMAND in case.inherits else None
    assert entity.command_topic == expected_command
    inherits_avail = AVAIL in case.inherits
    assert [a.topic for a in entity.availability] == (
        ["zigbee2mqtt/hall/availability"] if inherits_avail else [])
    assert entity.qos == 1  # every platform has qos
    routed = {route[0] for route in routes_of(entity)}
    assert ("zigbee2mqtt/hall" in routed) == (STATE in case.inherits)


def test_every_platform_is_in_the_table_and_names_only_shared_options() -> None:
    assert {c.platform for c in CASES} == set(catalogue())
    for name, platform in catalogue().items():
        assert platform.Schema.NOT_INHERITED <= set(SHARED_OPTIONS), name


def test_own_keys_win_and_are_validated_as_before() -> None:
    items = parse_device(device_payload({
        "sensor": {"p": "sensor", "uniq_id": "s", "stat_t": "~/own", "qos": 0},
        # a button's own state_topic is its own key: kept (only inherited ones are dropped)
        "button": {"p": "button", "uniq_id": "b", "cmd_t": "~/identify"},
    }))
    assert items["sensor"].state_topic == "zigbee2mqtt/hall/own" and items["sensor"].qos == 0
    assert items["button"].command_topic == "zigbee2mqtt/hall/identify"
    bad_own = [
        ({"p": "sensor", "uniq_id": "s", "cmd_t": "a/+/set"}, "command_topic"),
        ({"p": "button", "uniq_id": "b", "cmd_t": "a/#"}, "command_topic"),
        ({"p": "sensor", "uniq_id": "s", "stat_t": "a/#/b"}, "state_topic"),
        ({"p": "switch", "uniq_id": "w", "qos": 3}, "qos"),
    ]
    for comp, key in bad_own:
        with pytest.raises(PayloadError, match=key):
            parse_device(device_payload({"c": comp}))
    # a button needs a command topic: neither its own nor a shared one is an error
    no_command = orjson.loads(device_payload({"b": {"p": "button", "uniq_id": "b"}}))
    del no_command["cmd_t"]
    with pytest.raises(PayloadError, match="button needs 'command_topic'"):
        parse_device(orjson.dumps(no_command))


@pytest.mark.parametrize(("shared", "key"), [
    ({"cmd_t": "zigbee2mqtt/+/set"}, "command_topic"),
    ({"stat_t": "a/#/b"}, "state_topic"),
    ({"qos": 7}, "qos"),
    ({"avty_t": ["x"]}, "availability"),
    ({"avty_mode": "some"}, "availability_mode"),
])
def test_a_bad_shared_option_rejects_the_device_even_where_nobody_inherits_it(
        shared: dict[str, Any], key: str) -> None:
    # only a sensor, which inherits no command topic: HA still rejects the whole payload
    payload = device_payload({"t": {"p": "sensor", "uniq_id": "t"}}, **shared)
    errors: list[PayloadError] = []
    with pytest.raises(PayloadError, match=f"shared options.*{key}"):
        parse_discovery(topic(DEVICE_TOPIC), payload, raw_topic=DEVICE_TOPIC, errors=errors)


# ---- through the registry: what is subscribed and routed -------------------------------------
Z2M_COMPONENTS = {
    "identify": {"p": "button", "uniq_id": "0x00158d0001abcdef_identify_zigbee2mqtt",
                 "cmd_t": "~/set", "pl_prs": '{"identify": ""}', "obj_id": "hall_identify",
                 "name": "Identify", "dev_cla": "identify", "ent_cat": "diagnostic"},
    "power": {"p": "sensor", "uniq_id": "0x00158d0001abcdef_power_zigbee2mqtt",
              "obj_id": "hall_power", "name": "Power", "dev_cla": "power",
              "unit_of_meas": "W", "stat_cla": "measurement",
              "val_tpl": "{{ value_json.power }}"},
    "plug": {"p": "switch", "uniq_id": "0x00158d0001abcdef_switch_zigbee2mqtt",
             "obj_id": "hall_plug", "name": None, "val_tpl": "{{ value_json.state }}"},
}


def test_the_registry_never_routes_the_shared_state_to_a_button() -> None:
    reg, _, subscribed = make_registry()
    discover(reg, DEVICE_TOPIC, orjson.loads(device_payload({"identify":
                                                             Z2M_COMPONENTS["identify"]})))
    button = reg.get("button.hall_identify")
    assert button is not None
    assert "zigbee2mqtt/hall" not in subscribed  # a button alone: the state topic is not needed
    assert subscribed == ["zigbee2mqtt/hall/availability"]

    discover(reg, DEVICE_TOPIC, orjson.loads(device_payload(Z2M_COMPONENTS)))
    assert subscribed.count("zigbee2mqtt/hall") == 1  # for the sensor and the switch
    reg.on_message(message("zigbee2mqtt/hall/availability", "online"))
    reg.on_message(message("zigbee2mqtt/hall", '{"state": "ON", "power": 4.5}'))
    assert reg.get("sensor.hall_power").state == "4.5"
    assert reg.get("switch.hall_plug").state == "on"
    assert reg.get("button.hall_identify").state is None  # never pressed


async def test_a_zigbee2mqtt_device_config_through_the_hub_and_mosquitto(broker) -> None:
    cfg = broker.spark_config()
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub:
        reg = hub.registry
        await publish_as(cfg, "admin", pw["admin"], [
            (DEVICE_TOPIC, device_payload(Z2M_COMPONENTS), True),
            ("zigbee2mqtt/hall/availability", b"online", True),
            ("zigbee2mqtt/hall", b'{"state": "OFF", "power": 0, "linkquality": 90}', True),
        ])
        await wait_for(lambda: all(reg.get(e) is not None for e in (
            "sensor.hall_power", "switch.hall_plug", "button.hall_identify")), 10)
        await wait_for(lambda: reg.get("switch.hall_plug").state == "off"
                       and reg.get("sensor.hall_power").state == "0", 10)
        button = reg.get("button.hall_identify")
        assert button.available and button.state is None
        assert button.spec.state_topic is None and "state_topic" not in button.spec.raw

        await publish_as(cfg, "admin", pw["admin"], [
            ("zigbee2mqtt/hall", b'{"state": "ON", "power": 7.25}', True)])
        await wait_for(lambda: reg.get("sensor.hall_power").state == "7.25", 10)
        assert reg.get("switch.hall_plug").state == "on"
        assert button.state is None  # the same message reached the others, not the button
