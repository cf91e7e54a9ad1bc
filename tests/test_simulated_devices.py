"""The simulated node's home-lab devices (nodes/simulated/devices.py, entity kinds in
core/agent/devices.py): their discovery as the hub's platform modules read it, their commands,
and each device driven through the real hub's services and by an MQTT client acting as Home
Assistant (the bytes HA's templates render), against a real Mosquitto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import wait_for
from lab import publish_as, recorder, running_hub, running_node

from spark.app.config.models import SparkConfig
from spark.app.runtime import default_lab
from spark.core.agent.device_messages import ClimateState, CoverState, FanState, LightState
from spark.core.agent.devices import Climate, Cover, Fan, Light, Lock
from spark.core.agent.discovery import DeviceInfo, DiscoveryContext, device_config, entity_config
from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError
from spark.core.events import StateChanged
from spark.core.platforms import platform_for
from spark.core.topics import DiscoveryTopic, TopicLayout
from spark.hub.entity import EntityRecord
from spark.nodes.simulated.memory import DeviceMemory

NODE = "sim2"
FAST = {"cover_travel": 4.0, "lock_seconds": 0.4, "heat_rate": 60.0, "tick": 0.05}
IDS = {"light": "light.sim2_ceiling_light", "cover": "cover.sim2_blind",
       "climate": "climate.sim2_thermostat", "fan": "fan.sim2_fan",
       "lock": "lock.sim2_front_door"}


def _config(entity: Any) -> dict[str, Any]:
    ctx = DiscoveryContext(TopicLayout(), NODE, "hub", f"spark_home_{NODE}",
                           DeviceInfo(f"spark_home_{NODE}", "Sim", "Simulated node"))
    return entity_config(entity, ctx)


def _record(entity: Any) -> EntityRecord:
    topic = DiscoveryTopic(entity.platform, NODE, entity.key)
    (spec,) = parse_discovery(topic, orjson.dumps(_config(entity)))
    assert isinstance(spec, DiscoveredEntity)
    return EntityRecord(f"{entity.platform}.x", spec.key, spec, None)


KINDS = [Light(key="l"), Cover(key="c"), Climate(key="t"), Fan(key="f", preset_modes=["auto"]),
         Lock(key="d")]


@pytest.mark.parametrize("entity", KINDS, ids=lambda e: e.platform)
def test_discovery_is_read_by_the_hubs_platform_module(entity):
    body = _config(entity)
    record = _record(entity)
    assert record.spec.component == entity.platform
    assert platform_for(entity.platform).name == entity.platform
    state, command = f"spark/{NODE}/{entity.key}/state", f"spark/{NODE}/{entity.key}/set"
    if entity.platform == "climate":  # HA's climate has no plain state / command topic
        assert "state_topic" not in body and "command_topic" not in body
        assert body["mode_state_topic"] == body["current_temperature_topic"] == state
        assert body["mode_command_topic"] == body["temperature_command_topic"] == command
        assert body["modes"] == ["off", "heat", "cool", "auto"]
    else:
        assert (body["state_topic"], body["command_topic"]) == (state, command)
    if entity.platform == "light":
        assert body["schema"] == "json" and body["supported_color_modes"] == ["color_temp", "rgb"]
        assert (body["min_mireds"], body["max_mireds"], body["brightness_scale"]) == (153, 500,
                                                                                     255)
    if entity.platform == "cover":
        assert body["position_topic"] == state and body["set_position_topic"] == command
        assert body["set_position_template"] == '{"position": {{ position }}}'
    if entity.platform == "fan":
        assert body["percentage_command_topic"] == body["preset_mode_command_topic"] == command
        assert body["preset_modes"] == ["auto"]


def test_commands_are_the_bytes_home_assistant_sends():
    light, cover, climate, fan, lock = KINDS
    cmd = light.parse_command(b'{"state": "ON", "brightness": 128, "color_temp": 370}')
    assert (cmd.state, cmd.brightness, cmd.color_temp) == ("ON", 128, 370)
    assert light.parse_command(b'{"state":"ON","color":{"r":255,"g":0,"b":10}}'
                               ).color.rgb() == (255, 0, 10)
    assert light.parse_command(b'{"state":"ON","color":{"h":120,"s":100}}'
                               ).color.rgb() == (0, 255, 0)
    assert light.parse_command(b'{"state":"OFF","transition":2}').state == "OFF"
    assert cover.parse_command(b"OPEN").action == "OPEN"
    assert cover.parse_command(b'{"position": 40}').position == 40
    assert climate.parse_command(b'{"mode": "heat"}').mode == "heat"
    assert climate.parse_command(b'{"temperature": 22.0}').temperature == 22.0
    assert fan.parse_command(b'{"percentage": 30}').percentage == 30
    assert fan.parse_command(b'{"preset_mode": "auto"}').preset_mode == "auto"
    assert fan.parse_command(b'{"state": "OFF"}').state == "OFF"
    assert lock.parse_command(b"LOCK") == "LOCK"


@pytest.mark.parametrize(("index", "payload", "error"), [
    (0, b'{"state": "ON", "color_temp": 900}', "outside 153..500"),
    (0, b'{"state": "ON", "script": "x"}', "script"),
    (0, b'{"state": "ON", "color": {"r": 1}}', "needs r, g and b"),
    (0, b"[1, 2]", "not a JSON object"),
    (0, b"{" + b" " * 5000 + b"}", "too large"),
    (1, b'{"position": 101}', "position"),
    (1, b"HALF", "takes OPEN, CLOSE, STOP"),
    (2, b'{"mode": "dry"}', "not one of"),
    (2, b'{"temperature": 99}', "outside"),
    (2, b'{"temperature": NaN}', "not JSON"),
    (3, b'{"preset_mode": "turbo"}', "not one of"),
    (3, b"{}", "needs state, percentage or preset_mode"),
    (4, b"OPEN", "takes LOCK or UNLOCK"),
])
def test_hostile_commands_are_refused_with_a_reason(index, payload, error):
    with pytest.raises(PayloadError, match=error):
        KINDS[index].parse_command(payload)


def test_states_are_what_the_templates_pick_apart():
    light, cover, climate, fan, lock = KINDS
    assert orjson.loads(light.encode_state(LightState(
        state="ON", brightness=10, color_mode="rgb", color_temp=300, color=(1, 2, 3)))) == {
        "state": "ON", "brightness": 10, "color_mode": "rgb", "color": {"r": 1, "g": 2, "b": 3}}
    assert orjson.loads(cover.encode_state(CoverState(state="opening", position=3))) == {
        "state": "opening", "position": 3}
    assert orjson.loads(climate.encode_state(ClimateState(
        mode="heat", temperature=22, current_temperature=19.04, action="heating")))[
        "current_temperature"] == 19.04
    assert orjson.loads(fan.encode_state(FanState(state="OFF", percentage=0)))[
        "preset_mode"] is None
    assert lock.encode_state("LOCKING") == "LOCKING"
    with pytest.raises(PayloadError):
        lock.encode_state("OPEN")
    with pytest.raises(PayloadError):
        cover.encode_state({"state": "open"})


# ---- against the real broker and hub ------------------------------------------------------------
@pytest.fixture
def cfg(broker, tmp_path: Path):
    return broker.spark_config(nodes=[{
        "id": NODE, "kind": "simulated", "seed": 2, "state_interval": 3600,
        "devices": FAST, "state_file": str(tmp_path / "sim2.json")}])


def _history(hub: Any) -> dict[str, list[str | None]]:
    seen: dict[str, list[str | None]] = {}

    def on_change(event: Any) -> None:
        assert isinstance(event, StateChanged)
        states = seen.setdefault(event.entity_id, [])
        if not states or states[-1] != event.new_state:
            states.append(event.new_state)

    hub.bus.listen(on_change, (StateChanged,))
    return seen


async def test_each_device_driven_through_the_hubs_services(broker, cfg):
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, NODE, pw[NODE]):
        reg, services = hub.registry, hub.services
        await wait_for(lambda: all(reg.get(i) is not None and reg.get(i).available
                                   and reg.get(i).state is not None for i in IDS.values()),
                       15, what="the five devices registered with a state")
        seen = _history(hub)

        def attr(entity_id: str, key: str) -> Any:
            return reg.get(entity_id).attributes.get(key)

        # cover: to 40 %, opening, stopped at 40 (HA: open at position 40)
        blind = IDS["cover"]
        assert reg.get(blind).state == "closed" and attr(blind, "current_position") == 0
        await services.call("set_cover_position", blind, {"position": 40})
        await wait_for(lambda: attr(blind, "current_position") == 40
                       and reg.get(blind).state == "open", 10, what="blind at 40")
        assert seen[blind][:2] == ["opening", "open"]
        # open, then stop on the way: it halts between 40 and 100
        await services.call("open_cover", blind)
        await wait_for(lambda: reg.get(blind).state == "opening", 5)
        await wait_for(lambda: attr(blind, "current_position") > 45, 5)
        await services.call("stop_cover", blind)
        await wait_for(lambda: reg.get(blind).state == "open", 5, what="stopped")
        stopped = attr(blind, "current_position")
        assert 45 < stopped < 100

        # climate: heat to 22: state heat, target 22, the room warming, action heating
        thermostat = IDS["climate"]
        start = attr(thermostat, "current_temperature")
        await services.call("set_hvac_mode", thermostat, {"hvac_mode": "heat"}, wait=True)
        await services.call("set_temperature", thermostat, {"temperature": 22})
        await wait_for(lambda: attr(thermostat, "temperature") == 22.0, 5)
        assert reg.get(thermostat).state == "heat"
        await wait_for(lambda: attr(thermostat, "current_temperature") > start + 0.3, 10,
                       what="the room warming")
        assert attr(thermostat, "hvac_action") == "heating"

        # light: brightness and colour, kept across off / on
        lamp = IDS["light"]
        await services.call("turn_on", lamp, {"brightness": 128, "rgb_color": [255, 0, 0]},
                            wait=True)
        await wait_for(lambda: attr(lamp, "brightness") == 128
                       and list(attr(lamp, "rgb_color") or ()) == [255, 0, 0], 5,
                       what="red at 128")
        assert attr(lamp, "color_mode") == "rgb"
        await services.call("turn_on", lamp, {"color_temp_kelvin": 2700}, wait=True)
        await wait_for(lambda: attr(lamp, "color_mode") == "color_temp", 5)
        kelvin = attr(lamp, "color_temp_kelvin")
        assert 2690 <= kelvin <= 2710
        await services.call("turn_off", lamp, wait=True)
        await services.call("turn_on", lamp, wait=True)
        await wait_for(lambda: attr(lamp, "brightness") == 128, 5, what="brightness kept")
        assert attr(lamp, "color_temp_kelvin") == kelvin

        # fan: a percentage, a preset, off
        fan = IDS["fan"]
        await services.call("set_percentage", fan, {"percentage": 30})
        await wait_for(lambda: reg.get(fan).state == "on" and attr(fan, "percentage") == 30, 5)
        await services.call("set_preset_mode", fan, {"preset_mode": "sleep"})
        await wait_for(lambda: attr(fan, "preset_mode") == "sleep", 5)
        await services.call("turn_off", fan, wait=True)
        await wait_for(lambda: attr(fan, "percentage") == 0, 5)

        # lock: starts locked; unlock and lock pass through unlocking / locking
        door = IDS["lock"]
        assert reg.get(door).state == "locked"
        assert (await services.call("unlock", door, wait=True))["state"] == "unlocked"
        assert (await services.call("lock", door, wait=True))["state"] == "locked"
        assert seen[door] == ["unlocking", "unlocked", "locking", "locked"]


async def test_home_assistant_bytes_and_a_restart_that_keeps_what_the_devices_keep(broker, cfg):
    """An MQTT client with Home Assistant's account publishes what HA's templates render, with
    no hub running (HA controls a node while the hub is down); the node restarts and comes
    back where the hardware would be."""
    pw = broker.passwords
    state = {key: f"spark/{NODE}/{key}/state"
             for key in ("ceiling_light", "blind", "thermostat", "fan", "front_door")}

    def last(rec: Any, key: str) -> Any:
        payload = rec.last(state[key])
        if payload is None:
            return None
        return payload.decode() if key == "front_door" else orjson.loads(payload)

    outcome = f"spark/{NODE}/response/command"
    async with recorder(cfg, "admin", pw["admin"], f"spark/{NODE}/+/state", outcome) as rec:
        async with running_node(cfg, NODE, pw[NODE]):
            await wait_for(lambda: all(last(rec, k) is not None for k in state), 10)
            await publish_as(cfg, "homeassistant", pw["homeassistant"], [
                (f"spark/{NODE}/blind/set", b'{"position": 60}', False),
                (f"spark/{NODE}/thermostat/set", b'{"mode": "cool"}', False),
                (f"spark/{NODE}/thermostat/set", b'{"temperature": 18.5}', False),
                (f"spark/{NODE}/ceiling_light/set",
                 b'{"state":"ON","color":{"r":0,"g":0,"b":255},"brightness":77}', False),
                (f"spark/{NODE}/fan/set", b'{"preset_mode": "breeze"}', False),
                (f"spark/{NODE}/front_door/set", b"UNLOCK", False),
            ])
            await wait_for(lambda: last(rec, "blind") == {"state": "open", "position": 60}, 10,
                           what="blind at 60")
            assert {"state": "opening", "position": 0} in [
                orjson.loads(p) for p in rec.payloads(state["blind"])]
            await wait_for(lambda: last(rec, "front_door") == "UNLOCKED", 5)
            assert [p for p in rec.payloads(state["front_door"]) if p != b"LOCKED"][:2] == [
                b"UNLOCKING", b"UNLOCKED"]
            climate = last(rec, "thermostat")
            assert (climate["mode"], climate["temperature"]) == ("cool", 18.5)
            assert last(rec, "ceiling_light") == {"state": "ON", "brightness": 77,
                                                  "color_mode": "rgb",
                                                  "color": {"r": 0, "g": 0, "b": 255}}
            assert last(rec, "fan")["preset_mode"] == "breeze"
            # a command HA would never send is refused and the device stays where it is
            await publish_as(cfg, "homeassistant", pw["homeassistant"], [
                (f"spark/{NODE}/blind/set", b'{"position": "; rm -rf /"}', False)])
            await wait_for(lambda: any(b'"blind"' in p for p in rec.payloads(outcome)), 5,
                           what="the refusal")
            assert last(rec, "blind") == {"state": "open", "position": 60}
        rec.messages.clear()
        async with running_node(cfg, NODE, pw[NODE]):
            await wait_for(lambda: all(last(rec, k) is not None for k in state), 10)
            assert last(rec, "blind") == {"state": "open", "position": 60}
            assert last(rec, "ceiling_light")["color"] == {"r": 0, "g": 0, "b": 255}
            assert last(rec, "front_door") == "UNLOCKED"
            assert last(rec, "thermostat")["mode"] == "cool"
            assert last(rec, "fan")["preset_mode"] == "breeze"


def test_device_based_discovery_carries_the_same_keys():
    ctx = DiscoveryContext(TopicLayout(), NODE, "hub", f"spark_home_{NODE}",
                           DeviceInfo(f"spark_home_{NODE}", "Sim", "Simulated node"))
    cmps = device_config(KINDS, ctx)["components"]
    assert {c["platform"] for c in cmps.values()} == {"light", "cover", "climate", "fan",
                                                      "lock"}
    assert "state_topic" not in cmps["t"] and cmps["t"]["mode_command_topic"].endswith("/t/set")
    assert cmps["c"]["set_position_template"] == '{"position": {{ position }}}'


def test_device_memory_survives_a_bad_file_and_the_default_lab_keeps_one(tmp_path: Path):
    path = tmp_path / "mem" / "sim.json"
    memory = DeviceMemory(path)
    memory.put("blind", {"position": 40})
    assert DeviceMemory(path).get("blind") == {"position": 40}
    path.write_bytes(b"{not json")
    assert DeviceMemory(path).get("blind") == {}  # a broken file: the devices start fresh
    path.write_bytes(b'["a list"]')
    assert DeviceMemory(path).get("blind") == {}
    path.write_bytes(b'{"blind": {"position": "; rm -rf /"}, "x": 3}')
    assert DeviceMemory(path).get("x") == {}
    cfg = default_lab(SparkConfig.model_validate({}))
    assert cfg.node("sim").state_file == Path(".spark/simulated/sim.json")
