"""The node-agent framework as Home Assistant sees it, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from helpers import wait_for
from lab import publish_as, recorder, running_hub, running_node

PLATFORM_TOPICS = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "switch": {"state_topic", "command_topic"},
    "select": {"state_topic", "command_topic"},
    "number": {"state_topic", "command_topic"},
    "button": {"command_topic"},
    "event": {"state_topic"},
    "image": {"image_topic"},
    "light": {"state_topic", "command_topic"},
    "cover": {"state_topic", "command_topic", "position_topic", "set_position_topic"},
    "climate": {"mode_state_topic", "mode_command_topic", "temperature_command_topic"},
    "fan": {"state_topic", "command_topic", "percentage_command_topic"},
    "lock": {"state_topic", "command_topic"},
}


@pytest.fixture
def cfg(broker):
    return broker.spark_config(nodes=[{"id": "sim1", "kind": "simulated", "seed": 1,
                                       "state_interval": 3600, "area": "Lab"}])


def _configs(rec, node="sim1"):
    """Live (not retained) configs: retained ones may be left by earlier tests."""
    out = {}
    for msg in rec.messages:
        if msg.retain:
            continue
        parts = msg.topic.split("/")
        if len(parts) == 5 and parts[0] == "homeassistant" and parts[2] == node and msg.payload:
            out[(parts[1], parts[3])] = orjson.loads(msg.payload)
    return out


async def test_discovery_payloads_as_home_assistant_reads_them(broker, cfg):
    pw = broker.passwords
    async with recorder(cfg, "admin", pw["admin"], "homeassistant/+/sim1/+/config") as rec, \
            running_node(cfg, "sim1", pw["sim1"]) as node:
        await wait_for(lambda: len(_configs(rec)) == len(node.entities), 10)
        configs = _configs(rec)
    assert {c for c, _ in configs} == set(PLATFORM_TOPICS) | {"binary_sensor", "sensor"}
    unique_ids = set()
    for (platform, key), body in configs.items():
        assert PLATFORM_TOPICS[platform] <= body.keys(), (platform, key)
        if "command_topic" in body:
            assert body["command_topic"] == f"spark/sim1/{key}/set"
        # the node's own will only: HA controls it while the hub is down (issue 17)
        assert "availability_mode" not in body
        assert [a["topic"] for a in body["availability"]] == ["spark/sim1/availability"]
        dev = body["device"]
        assert dev["identifiers"] == [node.unique_prefix]
        assert dev["manufacturer"] == "Prime Spark" and dev["model"] == "Simulated node"
        assert dev["via_device"] == "spark_hub_hub" and dev["suggested_area"] == "Lab"
        assert dev["sw_version"]
        assert body["origin"]["name"] == "Prime Spark"
        assert body["object_id"] == f"sim1_{key}"
        assert body["default_entity_id"] == f"{platform}.sim1_{key}"
        unique_ids.add(body["unique_id"])
    assert len(unique_ids) == len(configs)
    temp = configs[("sensor", "temperature")]
    assert (temp["device_class"], temp["unit_of_measurement"], temp["state_class"]) == (
        "temperature", "°C", "measurement")
    assert configs[("select", "mode")]["options"] == ["eco", "comfort", "away"]
    assert configs[("select", "mode")]["entity_category"] == "config"
    num = configs[("number", "setpoint")]
    assert (num["min"], num["max"], num["step"]) == (5, 30, 0.5)
    assert configs[("event", "doorbell")]["event_types"] == ["press", "double_press"]
    conn = configs[("binary_sensor", "connectivity")]
    assert conn["device_class"] == "connectivity" and conn["entity_category"] == "diagnostic"
    assert configs[("image", "snapshot")]["content_type"] == "image/png"


async def test_device_based_discovery_option(broker):
    cfg = broker.spark_config(nodes=[{"id": "sim2", "kind": "simulated"}],
                              hub={"discovery_mode": "device"})
    pw = broker.passwords
    async with recorder(cfg, "admin", pw["admin"], "homeassistant/device/sim2/config") as rec, \
            running_node(cfg, "sim2", pw["sim2"]) as node:
        await wait_for(lambda: rec.last("homeassistant/device/sim2/config"), 10)
        body = orjson.loads(rec.last("homeassistant/device/sim2/config"))
        assert body["origin"]["name"] == "Prime Spark"
        assert set(body["components"]) == set(node.entities)
        assert body["components"]["lamp"]["platform"] == "switch"
        node.remove_entity("motion")
        await wait_for(lambda: orjson.loads(rec.last("homeassistant/device/sim2/config"))
                       ["components"]["motion"] == {"platform": "binary_sensor"}, 5)
    # leave no retained device config behind for other tests
    await publish_as(cfg, "admin", pw["admin"], [("homeassistant/device/sim2/config", b"", True)])


async def test_commands_validated_and_answered(broker, cfg):
    pw = broker.passwords
    async with recorder(cfg, "admin", pw["admin"], "spark/sim1/response/command") as rec, \
            running_node(cfg, "sim1", pw["sim1"]) as node:
        await publish_as(cfg, "hub", pw["hub"], [
            ("spark/sim1/mode/set", b"party", False),
            ("spark/sim1/setpoint/set", b"31", False),
            ("spark/sim1/setpoint/set", b"nan", False),
            ("spark/sim1/lamp/set", b"\xff\xfe", False),
            ("spark/sim1/temperature/set", b"5", False),
            ("spark/sim1/lamp/set", b'{"id": "c1", "value": "ON"}', False),
        ])
        await wait_for(lambda: len(rec.messages) == 6, 5)
        bodies = [orjson.loads(m.payload) for m in rec.messages]
        assert [b["status"] for b in bodies] == ["error"] * 5 + ["ok"]
        assert "not one of" in bodies[0]["error"] and "outside" in bodies[1]["error"]
        assert bodies[5]["id"] == "c1"
        assert node.state("lamp") is True and node.commands_rejected == 5


async def test_will_marks_node_unavailable_after_sigkill(broker, cfg, tmp_path: Path):
    pw = broker.passwords
    conf = tmp_path / "spark.yaml"
    conf.write_text(yaml.safe_dump({
        "mqtt": {"host": broker.host, "port": broker.port},
        "nodes": [{"id": "sim3", "kind": "simulated", "password": pw["sim3"]}],
    }))
    async with running_hub(cfg, pw["hub"]) as hub:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "spark.app.cli", "node", "simulated", "--id", "sim3",
            "--config", str(conf), env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            reg = hub.registry
            await wait_for(lambda: reg.get("switch.sim3_lamp") is not None
                           and reg.get("switch.sim3_lamp").available, 20)
            assert hub.nodes_online.get("sim3") is True
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await wait_for(lambda: not reg.get("switch.sim3_lamp").available, 10)
            assert hub.nodes_online["sim3"] is False
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_clean_shutdown_publishes_offline_and_state_survives_hub_restart(broker, cfg):
    pw = broker.passwords
    async with running_node(cfg, "sim1", pw["sim1"]) as node:
        node.set_state("setpoint", 17.5)
        async with running_hub(cfg, pw["hub"]) as hub:
            await wait_for(lambda: hub.registry.get("number.sim1_setpoint") is not None
                           and hub.registry.get("number.sim1_setpoint").state == "17.5", 10)
        # a brand-new hub rebuilds everything from retained discovery + state
        async with running_hub(cfg, pw["hub"]) as hub2:
            await wait_for(lambda: hub2.registry.get("number.sim1_setpoint") is not None
                           and hub2.registry.get("number.sim1_setpoint").state == "17.5"
                           and hub2.registry.get("number.sim1_setpoint").available, 10)
    async with recorder(cfg, "admin", pw["admin"], "spark/sim1/availability") as rec:
        await wait_for(lambda: rec.last("spark/sim1/availability") == b"offline", 5)


async def test_reannounce_when_home_assistant_comes_online(broker, cfg):
    pw = broker.passwords
    async with running_node(cfg, "sim1", pw["sim1"]), recorder(
        cfg, "admin", pw["admin"], "homeassistant/+/sim1/+/config", "spark/sim1/+/state"
    ) as rec:
        await wait_for(lambda: any(m.topic.endswith("lamp/config") for m in rec.messages), 5)
        before = len(rec.messages)
        await publish_as(cfg, "homeassistant", pw["homeassistant"],
                         [("homeassistant/status", b"online", False)])
        await wait_for(lambda: any(not m.retain and m.topic.endswith("lamp/state")
                                   for m in rec.messages[before:]), 5)
        fresh = [m for m in rec.messages[before:] if not m.retain]
        kinds = ["config" if m.topic.endswith("/config") else "state" for m in fresh]
        assert "config" in kinds and "state" in kinds
        # discovery first, then state, as Home Assistant needs
        assert max(i for i, k in enumerate(kinds) if k == "config") < \
            min(i for i, k in enumerate(kinds) if k == "state")


async def test_ghost_configs_are_removed(broker, cfg):
    pw = broker.passwords
    ghost = "homeassistant/sensor/sim1/old_sensor/config"
    await publish_as(cfg, "admin", pw["admin"], [(ghost, b'{"state_topic": "x/y"}', True)])
    async with recorder(cfg, "admin", pw["admin"], ghost) as rec, \
            running_node(cfg, "sim1", pw["sim1"]):
        await wait_for(lambda: rec.last(ghost) == b"", 5)
    async with running_node(cfg, "sim1", pw["sim1"]) as node:
        node.remove_entity("motion")
    async with recorder(cfg, "admin", pw["admin"], "homeassistant/binary_sensor/sim1/+/config",
                        ghost) as rec:
        await wait_for(lambda: any(m.topic.endswith("connectivity/config")
                                   for m in rec.messages), 5)
        assert not rec.on("homeassistant/binary_sensor/sim1/motion/config")
        assert not rec.on(ghost)


# ---- names as Home Assistant shows them ----------------------------------------------------
# Every kind, as ``spark up`` runs it on a machine without its hardware, plus a configured device
# name that collides with entity names ("Battery" for the power node: "Battery voltage").
KIND_NODES = [("simulated", "sim1", None), ("power", "power", None), ("power", "power", "Battery"),
              ("system", "system", None), ("nas", "nas", None), ("vision", "vision", None),
              ("voice", "voice", None), ("nas", "nas", "Disk")]
RUN_TIME_KEYS = {"nas": "disk_"}  # entities a kind adds after its first reading


@pytest.mark.parametrize(("kind", "node_id", "name"), KIND_NODES,
                         ids=[f"{k}-{n or 'default'}" for k, _, n in KIND_NODES])
async def test_entity_names_never_repeat_the_device_name(broker, kind, node_id, name):
    """HA's ``has_entity_name``: the friendly name is "<device> <entity>", so an entity name
    that starts with (or equals) its device's name shows it twice ("Power Power mode")."""
    from spark.app.runtime import default_node_settings
    from spark.core.agent.discovery import entity_name

    node = {"id": node_id, "kind": kind, **default_node_settings(kind, node_id)}
    if name:
        node["name"] = name
    cfg = broker.spark_config(nodes=[node])
    pw = broker.passwords
    prefix = f"homeassistant/+/{node_id}/+/config"
    async with recorder(cfg, "admin", pw["admin"], prefix) as rec, \
            running_node(cfg, node_id, pw[node_id]) as agent:
        def configs() -> dict[str, dict]:
            out = {}
            for m in rec.messages:
                if m.payload and not m.retain:
                    out[m.topic.split("/")[3]] = orjson.loads(m.payload)
            return out

        def complete() -> bool:
            got = configs()
            run_time = RUN_TIME_KEYS.get(kind)
            return set(agent.entities) <= set(got) and (
                run_time is None or any(k.startswith(run_time) for k in got))

        await wait_for(complete, 20, what=f"{kind}: every entity's discovery config")
    got = configs()
    device = {c["device"]["name"] for c in got.values()}
    assert device == {name or {"sim1": "Sim1", "nas": "NAS"}.get(node_id, node_id.title())}
    device_name = device.pop()
    for key, config in got.items():
        own = config.get("name")
        assert own is None or not own.casefold().startswith(device_name.casefold()), \
            f"{kind}: {key} named {own!r} on device {device_name!r}"
        # ids come from the node and key, never from a name
        assert config["object_id"] == f"{node_id}_{key}"
        assert config["unique_id"].endswith(f"_{node_id}_{key}")
        assert own == entity_name(agent.entities[key].name, device_name)


def test_default_device_names_keep_acronyms_and_names_lose_a_repeated_device_name():
    from spark.core.agent.config import default_display_name
    from spark.core.agent.discovery import entity_name

    assert [default_display_name(i) for i in ("nas", "garage_ups", "pi-5", "sim1", "power")] \
        == ["NAS", "Garage UPS", "Pi 5", "Sim1", "Power"]
    assert entity_name("Battery voltage", "Battery") == "Voltage"
    assert entity_name("battery", "Battery") is None
    assert entity_name("Batteryless mode", "Battery") == "Batteryless mode"  # whole words only
    assert entity_name("Disk sda power-on hours", "disk") == "Sda power-on hours"
    assert entity_name("Mode", "Power") == "Mode"
    assert entity_name(None, "Power") is None
