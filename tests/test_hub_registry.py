"""The hub registry with a real Mosquitto: our nodes, third-party devices, bad input."""

from __future__ import annotations

import orjson
import pytest
from helpers import wait_for
from lab import publish_as, recorder, running_hub, running_node

from spark.core.events import EntityFired
from spark.core.rpc import RpcClient
from spark.hub.services import ServiceError

Z2M_AVAIL = [
    {"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"},
    {"topic": "zigbee2mqtt/desk_plug/availability", "value_template": "{{ value_json.state }}"},
]
Z2M_DEVICE = {
    "identifiers": ["zigbee2mqtt_0x0017880104aabbcc"], "manufacturer": "Innr",
    "model": "Smart plug (SP 120)", "name": "desk_plug",
    "via_device": "zigbee2mqtt_bridge_0x00124b0022aabbcc",
}
Z2M_SWITCH = {
    "availability": Z2M_AVAIL, "availability_mode": "all",
    "command_topic": "zigbee2mqtt/desk_plug/set", "device": Z2M_DEVICE, "name": None,
    "object_id": "desk_plug", "payload_off": "OFF", "payload_on": "ON",
    "state_topic": "zigbee2mqtt/desk_plug", "unique_id": "0x0017880104aabbcc_switch_zigbee2mqtt",
    "value_template": "{{ value_json.state }}",
    "origin": {"name": "Zigbee2MQTT", "sw": "1.40.2", "url": "https://www.zigbee2mqtt.io"},
}
Z2M_POWER = {
    "availability": Z2M_AVAIL, "availability_mode": "all", "device": Z2M_DEVICE,
    "device_class": "power", "enabled_by_default": True, "name": "Power",
    "object_id": "desk_plug_power", "state_class": "measurement",
    "state_topic": "zigbee2mqtt/desk_plug", "unique_id": "0x0017880104aabbcc_power_zigbee2mqtt",
    "unit_of_measurement": "W", "value_template": "{{ value_json.power }}",
}
TASMOTA_RELAY = {
    "name": "Tasmota Relay", "stat_t": "tele/tasmota_A1B2C3/STATE",
    "avty_t": "tele/tasmota_A1B2C3/LWT", "pl_avail": "Online", "pl_not_avail": "Offline",
    "cmd_t": "cmnd/tasmota_A1B2C3/POWER", "val_tpl": "{{value_json.POWER}}",
    "pl_off": "OFF", "pl_on": "ON", "uniq_id": "A1B2C3_RL_1",
    "dev": {"cns": [["mac", "A4CF12A1B2C3"]]},
}
TASMOTA_ENERGY = {
    "name": "Tasmota Energy Power", "~": "tele/tasmota_A1B2C3/", "stat_t": "~SENSOR",
    "avty_t": "~LWT", "pl_avail": "Online", "pl_not_avail": "Offline",
    "val_tpl": "{{value_json['ENERGY']['Power']}}", "unit_of_meas": "W", "dev_cla": "power",
    "stat_cla": "measurement", "uniq_id": "A1B2C3_ENERGY_Power",
    "dev": {"cns": [["mac", "A4CF12A1B2C3"]]},
}


@pytest.fixture
def cfg(broker):
    return broker.spark_config(nodes=[{"id": "sim1", "kind": "simulated", "seed": 1,
                                       "state_interval": 3600, "area": "Office"}],
                               hub={"policy": {"accounts": {"sim1": {"read": True}}}})


async def test_our_node_reaches_registry_with_states(broker, cfg):
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, \
            running_node(cfg, "sim1", pw["sim1"]) as node:
        reg = hub.registry
        await wait_for(lambda: reg.get("switch.sim1_lamp") is not None
                       and reg.get("switch.sim1_lamp").state == "off"
                       and reg.get("sensor.sim1_temperature").state == "21.0"
                       and reg.get("select.sim1_mode").state == "comfort"
                       and reg.get("sensor.sim1_temperature").available, 10)
        lamp = reg.get("switch.sim1_lamp")
        device = reg.devices[lamp.device_id]
        assert device.manufacturer == "Prime Spark" and device.model == "Simulated node"
        assert device.via_device == "spark_hub_hub"
        assert reg.get("sensor.hub_entities") is not None  # the hub is a device too
        # Over MQTT request/response, as the voice node asks (device and area names).
        rpc = RpcClient(node.client, node.layout, node.rpc_caller)
        devices = await rpc.call("hub", "list_devices", timeout=5)
        sim = next(d for d in devices if d["id"] == lamp.device_id)
        assert sim["area"] == "Office" and "switch.sim1_lamp" in sim["entities"]
        entities = await rpc.call("hub", "list_entities", timeout=5)
        assert any(e["entity_id"] == "switch.sim1_lamp" and e["device_id"] == lamp.device_id
                   for e in entities)


async def test_service_round_trip_and_validation(broker, cfg):
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]) as node:
        reg, services = hub.registry, hub.services
        await wait_for(lambda: reg.get("number.sim1_setpoint") is not None
                       and reg.get("switch.sim1_lamp").state == "off"
                       and reg.get("switch.sim1_lamp").available
                       and reg.get("select.sim1_mode").available, 10)
        result = await services.call("turn_on", "switch.sim1_lamp", wait=True)
        assert result["state"] == "on" and node.state("lamp") is True
        await services.call("toggle", "switch.sim1_lamp", wait=True)
        assert reg.get("switch.sim1_lamp").state == "off"
        await services.call("select_option", "select.sim1_mode", {"option": "eco"}, wait=True)
        assert node.state("mode") == "eco"
        await services.call("set_value", "number.sim1_setpoint", {"value": 22.5}, wait=True)
        assert node.state("setpoint") == 22.5
        with pytest.raises(ServiceError, match="not an option"):
            await services.call("select_option", "select.sim1_mode", {"option": "party"})
        with pytest.raises(ServiceError, match="outside"):
            await services.call("set_value", "number.sim1_setpoint", {"value": 99})
        with pytest.raises(ServiceError, match="does not apply"):
            await services.call("turn_on", "select.sim1_mode")
        with pytest.raises(ServiceError, match="unknown entity"):
            await services.call("turn_on", "switch.nope")
        fired = hub.bus.subscribe((EntityFired,))
        await services.call("press", "button.sim1_identify")
        event = await fired.get()
        assert event.entity_id == "event.sim1_doorbell" and event.event_type == "press"


async def test_third_party_zigbee2mqtt_and_tasmota(broker, cfg):
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, recorder(
        cfg, "admin", pw["admin"], "zigbee2mqtt/desk_plug/set", "cmnd/#"
    ) as rec:
        reg = hub.registry
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/switch/0x0017880104aabbcc/switch/config",
             orjson.dumps(Z2M_SWITCH), True),
            ("homeassistant/sensor/0x0017880104aabbcc/power/config",
             orjson.dumps(Z2M_POWER), True),
            ("zigbee2mqtt/bridge/state", b'{"state":"online"}', True),
            ("zigbee2mqtt/desk_plug/availability", b'{"state":"online"}', True),
            ("zigbee2mqtt/desk_plug", b'{"state":"ON","power":12.5,"linkquality":120}', True),
        ])
        await publish_as(cfg, "tasmota", pw["tasmota"], [
            ("homeassistant/switch/A1B2C3_RL_1/config", orjson.dumps(TASMOTA_RELAY), True),
            ("homeassistant/sensor/A1B2C3_ENERGY_Power/config", orjson.dumps(TASMOTA_ENERGY),
             True),
            ("tele/tasmota_A1B2C3/LWT", b"Online", True),
            ("tele/tasmota_A1B2C3/STATE", b'{"Time":"2026-11-26T10:00:00","POWER":"OFF"}', True),
            ("tele/tasmota_A1B2C3/SENSOR", b'{"ENERGY":{"Power":230,"Voltage":231}}', True),
        ])
        await wait_for(lambda: reg.get("switch.desk_plug") is not None
                       and reg.get("switch.desk_plug").state == "on"
                       and reg.get("sensor.desk_plug_power") is not None
                       and reg.get("sensor.desk_plug_power").state == "12.5", 10)
        plug = reg.get("switch.desk_plug")
        assert plug.available
        assert reg.devices[plug.device_id].manufacturer == "Innr"
        await wait_for(lambda: reg.by_unique_id("A1B2C3_RL_1") is not None
                       and reg.by_unique_id("A1B2C3_ENERGY_Power") is not None, 10)
        relay = reg.by_unique_id("A1B2C3_RL_1")
        energy = reg.by_unique_id("A1B2C3_ENERGY_Power")
        await wait_for(lambda: relay.state == "off" and energy.state == "230", 10)
        assert relay.available and energy.spec.unit_of_measurement == "W"
        assert relay.device_id == energy.device_id  # one Tasmota device, by MAC connection

        # availability: bridge offline makes every Z2M entity unavailable (mode all)
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("zigbee2mqtt/bridge/state", b'{"state":"offline"}', True)])
        await wait_for(lambda: not plug.available, 5)
        with pytest.raises(ServiceError, match="unavailable"):
            await hub.services.call("turn_off", plug.entity_id)
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("zigbee2mqtt/bridge/state", b'{"state":"online"}', True)])
        await wait_for(lambda: plug.available, 5)

        await hub.services.call("turn_off", plug.entity_id)
        await hub.services.call("turn_on", relay.entity_id)
        await wait_for(lambda: rec.payloads("zigbee2mqtt/desk_plug/set") == [b"OFF"]
                       and rec.payloads("cmnd/tasmota_A1B2C3/POWER") == [b"ON"], 5)

        # removal: an empty retained config deletes the entity (and the device when empty)
        await publish_as(cfg, "tasmota", pw["tasmota"], [
            ("homeassistant/switch/A1B2C3_RL_1/config", b"", True),
            ("homeassistant/sensor/A1B2C3_ENERGY_Power/config", b"", True),
        ])
        await wait_for(lambda: reg.by_unique_id("A1B2C3_RL_1") is None
                       and relay.device_id not in reg.devices, 5)


async def test_bad_payloads_are_rejected_without_losing_others(broker, cfg):
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]):
        reg = hub.registry
        await wait_for(lambda: reg.get("sensor.sim1_temperature") is not None
                       and reg.get("sensor.sim1_temperature").state is not None, 10)
        errors_before = reg.stats.discovery_errors
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/sensor/junk/a/config", b"{not json", False),
            ("homeassistant/sensor/junk/b/config", b"[1, 2, 3]", False),
            ("homeassistant/sensor/junk/c/config", b'{"state_topic": 5, "unique_id": []}', False),
            ("homeassistant/sensor/junk/d/config", b"x" * (1024 * 1024), False),
            ("homeassistant/warpdrive/junk/e/config", b'{"state_topic": "a/b"}', False),
        ])
        # A numeric sensor receiving text, a switch receiving garbage, a 1 MB state:
        await publish_as(cfg, "admin", pw["admin"], [
            ("spark/sim1/temperature/state", b"hot!", False),
            ("spark/sim1/lamp/state", b"\xff\xfe maybe", False),
            ("spark/sim1/temperature/state", b"9" * (1024 * 1024), False),
            ("spark/sim1/temperature/state", b"19.5", False),
        ])
        await wait_for(lambda: reg.get("sensor.sim1_temperature").state == "19.5", 5)
        assert reg.stats.rejected >= 2
        assert reg.stats.discovery_errors >= errors_before + 3
        assert reg.get("switch.sim1_lamp").state == "off"  # untouched by the garbage
        assert not any(e.entity_id.startswith("sensor.junk") for e in reg.entities.values())
