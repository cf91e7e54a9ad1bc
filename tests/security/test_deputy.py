"""Issue 15, finding 1: the confused deputy. Each test performs the attack against a real
Mosquitto (our generated passwd / ACL), the real hub and the real power node, and checks it is
refused: a node account asking the hub to act for it, a node's discovery config pointing the
hub's publish at protected topics, and a third-party account (zigbee2mqtt, as in the example
config) overwriting our nodes' discovery configs. Plus: nodes repair an overwritten config and
availability.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from broker_fixture import ADMIN, RunningBroker, start_test_broker
from helpers import wait_for
from lab import Recorder, recorder, running_hub, running_node

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeAgent
from spark.hub.app import Hub
from spark.hub.entity import EntityRecord
from spark.hub.services import ServiceError

POWER_MODE_SET = "spark/power/power_mode/set"
POWER_MODE_CONFIG = "homeassistant/select/power/power_mode/config"
EXAMPLE = Path(__file__).parents[2] / "config" / "spark.example.yaml"


def lab_config(broker: RunningBroker, data_dir: Path) -> SparkConfig:
    return broker.spark_config(nodes=[
        {"id": "power", "kind": "power", "data_dir": str(data_dir), "state_interval": 3600,
         "backend": {"type": "simulated"}}])


@contextlib.asynccontextmanager
async def lab(broker: RunningBroker, tmp_path: Path
              ) -> AsyncIterator[tuple[SparkConfig, Hub, NodeAgent]]:
    """The hub and the power node, running; yields once the hub knows the power mode."""
    cfg = lab_config(broker, tmp_path)
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, \
            running_node(cfg, "power", pw["power"]) as power:
        await wait_for(lambda: power_mode(hub) is not None
                       and power_mode(hub).state == "auto", 10, what="power mode in registry")
        yield cfg, hub, power


def power_mode(hub: Hub) -> Any:
    assert hub.registry is not None
    return next((e for e in hub.registry.entities.values()
                 if e.spec.command_topic == POWER_MODE_SET), None)


def request(method: str, **params: Any) -> tuple[str, bytes]:
    rid = uuid.uuid4().hex
    return rid, orjson.dumps({"id": rid, "params": params})


def answer(rec: Recorder, topic: str, rid: str) -> dict[str, Any] | None:
    for payload in rec.payloads(topic):
        body = orjson.loads(payload)
        if body.get("id") == rid:
            return dict(body)
    return None


# ---- bullet 1: the hub's RPC knew nobody ---------------------------------------------------
async def test_a_node_cannot_make_the_hub_command_another_node(
        fresh_broker: RunningBroker, tmp_path: Path) -> None:
    """sim1 may not publish to spark/power/power_mode/set (the broker drops it); asking the hub
    to do it must not work either: not with the old request topic, not under another account's
    name (the broker drops those), and not under its own (the hub's policy refuses, and says
    so on sim1's response topic)."""
    pw = fresh_broker.passwords
    params = {"service": "select_option", "entity_id": "", "data": {"option": "off-grid"},
              "wait": False}
    async with lab(fresh_broker, tmp_path) as (cfg, hub, power), \
            recorder(cfg, ADMIN, pw[ADMIN], POWER_MODE_SET, "spark/hub/response/#") as seen, \
            recorder(cfg, "sim1", pw["sim1"], "spark/hub/response/#") as sim1:
        params["entity_id"] = power_mode(hub).entity_id
        attacks = [
            "spark/hub/request/call_service",  # the old form: no caller at all
            "spark/hub/request/voice/call_service",  # posing as the voice node (allowed to)
            "spark/hub/request/hub/call_service",  # posing as the hub itself
            POWER_MODE_SET,  # directly
        ]
        for topic in attacks:
            _, body = request("call_service", **params)
            await sim1.client.publish_confirmed(topic, body if "request" in topic
                                                else b"off-grid", 1, False)
        rid, body = request("call_service", **params)
        own = "spark/hub/request/sim1/call_service"
        await sim1.client.publish_confirmed(own, body, 1, False)
        reply_topic = "spark/hub/response/sim1/call_service"
        await wait_for(lambda: answer(sim1, reply_topic, rid) is not None
                       or bool(seen.payloads(POWER_MODE_SET)), 5, what="the hub's answer to sim1")
        assert not seen.payloads(POWER_MODE_SET), "sim1 made the hub command the power node"
        reply = answer(sim1, reply_topic, rid)
        assert reply is not None and reply["status"] == "error"
        assert "account 'sim1' may not call select_option" in reply["error"]
        # sim1 may not read the registry either, by default
        rid2, body2 = request("list_entities")
        await sim1.client.publish_confirmed("spark/hub/request/sim1/list_entities", body2, 1,
                                            False)
        await wait_for(lambda: answer(sim1, "spark/hub/response/sim1/list_entities", rid2)
                       is not None, 5, what="list_entities answer")
        assert answer(sim1, "spark/hub/response/sim1/list_entities", rid2)["status"] == "error"
        assert not seen.payloads(POWER_MODE_SET), "a command reached the power node"
        assert power.state("power_mode") == "auto"
        assert power_mode(hub).state == "auto"
        assert hub.services is not None and hub.services.policy.refused >= 2


async def test_the_voice_account_calls_what_the_policy_grants(
        fresh_broker: RunningBroker, tmp_path: Path) -> None:
    """The other side of the same coin: the broker lets the voice account ask under its own
    name, and the default policy lets it call the services it speaks."""
    pw = fresh_broker.passwords
    async with lab(fresh_broker, tmp_path) as (cfg, hub, power), \
            recorder(cfg, "voice", pw["voice"], "spark/hub/response/voice/+") as voice:
        rid, body = request("call_service", service="select_option",
                            entity_id=power_mode(hub).entity_id, data={"option": "on-grid"},
                            wait=True)
        await voice.client.publish_confirmed("spark/hub/request/voice/call_service", body, 1,
                                             False)
        await wait_for(lambda: answer(voice, "spark/hub/response/voice/call_service", rid)
                       is not None, 10, what="the hub's answer to voice")
        assert answer(voice, "spark/hub/response/voice/call_service", rid)["status"] == "ok"
        assert power.state("power_mode") == "on-grid"


# ---- bullet 2: command_topic and retain used as given, with the hub's rights ----------------
def hostile(object_id: str, command_topic: str, payload_on: str, retain: bool = True
            ) -> tuple[str, bytes]:
    config = {"name": object_id, "unique_id": f"sim1_{object_id}",
              "command_topic": command_topic, "state_topic": f"spark/sim1/{object_id}/state",
              "payload_on": payload_on, "payload_off": "x", "retain": retain}
    return f"homeassistant/switch/sim1/{object_id}/config", orjson.dumps(config)


async def test_a_discovery_config_cannot_aim_the_hub_at_protected_topics(
        fresh_broker: RunningBroker, tmp_path: Path) -> None:
    """sim1 announces, in its own namespace, switches whose command_topic is the power node's
    discovery config (retain, its forged config as payload_on), its availability, its state, a
    request posing as the voice node, a $SYS topic, and the power node's command topic. The hub
    itself (the most trusted caller: the panel's and the API's path end there) and sim1 over RPC
    turn them on: every call is refused with the reason, and nothing reaches those topics."""
    pw = fresh_broker.passwords
    async with lab(fresh_broker, tmp_path) as (cfg, hub, power), \
            recorder(cfg, ADMIN, pw[ADMIN], "homeassistant/+/power/#", "spark/power/#",
                     "spark/hub/request/#") as seen:
        assert hub.registry is not None and hub.services is not None
        await wait_for(lambda: seen.last(POWER_MODE_CONFIG) is not None, 5)
        original = seen.last(POWER_MODE_CONFIG)
        forged = orjson.loads(original or b"{}") | {"options": ["auto"],
                                                   "command_topic": "spark/sim1/steal/set"}
        voice_call = orjson.dumps({"id": "x", "params": {
            "service": "select_option", "entity_id": power_mode(hub).entity_id,
            "data": {"option": "off-grid"}, "wait": False}}).decode()
        targets = {
            "cfg": (POWER_MODE_CONFIG, orjson.dumps(forged).decode()),
            "avail": ("spark/power/availability", "offline"),
            "state": ("spark/power/power_mode/state", "off-grid"),
            "mode": (POWER_MODE_SET, "off-grid"),
            "rpc": ("spark/hub/request/voice/call_service", voice_call),
            "sys": ("$SYS/hostile", "x"),
        }
        configs = [hostile(key, topic, payload) for key, (topic, payload) in targets.items()]
        async with recorder(cfg, "sim1", pw["sim1"], "spark/hub/response/sim1/+") as sim1:
            for topic, body in configs:
                await sim1.client.publish_confirmed(topic, body, 1, True)

            def announced() -> list[EntityRecord]:
                assert hub.registry is not None
                return [r for key in targets
                        if (r := hub.registry.by_unique_id(f"sim1_{key}")) is not None]

            await wait_for(lambda: len(announced()) == len(targets), 10,
                           what="sim1's switches in the registry")
            for record in announced():
                with pytest.raises(ServiceError) as refused:
                    await hub.services.call("turn_on", record.entity_id)
                assert "command_topic" in str(refused.value), str(refused.value)
            reply = "spark/hub/response/sim1/call_service"
            for record in announced():
                rid, body = request("call_service", service="turn_on",
                                    entity_id=record.entity_id, wait=False)
                await sim1.client.publish_confirmed("spark/hub/request/sim1/call_service",
                                                    body, 1, False)
                await wait_for(lambda: answer(sim1, reply, rid) is not None, 5)  # noqa: B023
                assert answer(sim1, reply, rid)["status"] == "error"
            for topic, _ in configs:  # clean up what sim1 retained
                await sim1.client.publish_confirmed(topic, b"", 1, True)
        assert seen.last(POWER_MODE_CONFIG) == original
        assert not [m for m in seen.messages if m.topic == "spark/power/availability"
                    and m.payload == b"offline"]
        assert not seen.on("spark/hub/request/voice/call_service")
        assert not seen.on(POWER_MODE_SET) and not seen.on("$SYS/hostile")
        assert power.state("power_mode") == "auto"


async def test_the_power_node_repairs_its_overwritten_config_and_availability(
        fresh_broker: RunningBroker, tmp_path: Path) -> None:
    """Whoever still manages to write there (here the test's trusted admin account): the
    power node compares the whole retained config with what it published and puts its own back;
    a retained 'offline' from someone else is answered with 'online'."""
    pw = fresh_broker.passwords
    async with lab(fresh_broker, tmp_path) as (cfg, _hub, _power), \
            recorder(cfg, ADMIN, pw[ADMIN], POWER_MODE_CONFIG,
                     "spark/power/availability") as seen:
        await wait_for(lambda: seen.last(POWER_MODE_CONFIG) is not None, 5)
        original = seen.last(POWER_MODE_CONFIG)
        forged = orjson.loads(original or b"{}") | {"command_topic": "spark/sim1/steal/set"}
        await seen.client.publish_confirmed(POWER_MODE_CONFIG, orjson.dumps(forged), 1, True)
        await wait_for(lambda: seen.last(POWER_MODE_CONFIG) == original, 5,
                       what="the power node re-published its config")
        await seen.client.publish_confirmed(POWER_MODE_CONFIG, b"", 1, True)  # cleared
        await wait_for(lambda: seen.last(POWER_MODE_CONFIG) == original, 5,
                       what="the power node re-published its cleared config")
        await seen.client.publish_confirmed("spark/power/availability", b"offline", 1, True)
        await wait_for(lambda: seen.last("spark/power/availability") == b"online", 5,
                       what="the power node said online again")
    # and what the broker keeps (retained) is the power node's own again
    async with recorder(cfg, ADMIN, pw[ADMIN], POWER_MODE_CONFIG) as after:
        await wait_for(lambda: after.last(POWER_MODE_CONFIG) is not None, 5)
        assert after.last(POWER_MODE_CONFIG) == original


# ---- bullet 3: the example's zigbee2mqtt account wrote homeassistant/# ----------------------
def example_users() -> list[dict[str, Any]]:
    """broker.users of config/spark.example.yaml (passwords generated instead of its files)."""
    users = yaml.safe_load(EXAMPLE.read_text())["broker"]["users"]
    return [{k: v for k, v in u.items() if k != "password_file"} for u in users]


async def test_the_example_zigbee2mqtt_account_cannot_overwrite_our_configs(
        tmp_path: Path) -> None:
    """A broker generated with the example config's third-party accounts: zigbee2mqtt announces
    its own devices, but its attempts on the power node's (and the hub's) discovery configs and
    on homeassistant/status are dropped, and the power node's config stays its own."""
    users = [{"username": ADMIN, "readwrite": ["#"], "trusted": True}, *example_users()]
    assert any(u["username"] == "zigbee2mqtt" for u in users)
    broker = start_test_broker(tmp_path / "mosquitto", users=users)
    try:
        pw = broker.passwords
        async with lab(broker, tmp_path) as (cfg, _hub, _power), \
                recorder(cfg, ADMIN, pw[ADMIN], "homeassistant/#") as seen:
            await wait_for(lambda: seen.last(POWER_MODE_CONFIG) is not None, 5)
            original = seen.last(POWER_MODE_CONFIG)
            own = "homeassistant/light/0x0017880104aabbcc/light/config"
            attacks = [POWER_MODE_CONFIG, "homeassistant/device/power/config",
                       "homeassistant/sensor/hub/entities/config", "homeassistant/status"]
            async with recorder(cfg, "zigbee2mqtt", pw["zigbee2mqtt"]) as z2m:
                for topic in attacks:
                    await z2m.client.publish_confirmed(topic, b'{"name": "pwned"}', 1, True)
                await z2m.client.publish_confirmed(own, b'{"name": "lamp"}', 1, True)
                await wait_for(lambda: seen.last(own) == b'{"name": "lamp"}', 5,
                               what="zigbee2mqtt's own config")
                await z2m.client.publish_confirmed(own, b"", 1, True)
            assert not [m.topic for m in seen.messages if m.payload == b'{"name": "pwned"}']
            assert seen.last(POWER_MODE_CONFIG) == original
    finally:
        broker.process.stop_blocking()
