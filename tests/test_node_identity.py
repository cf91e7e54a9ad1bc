"""Our nodes as Home Assistant keeps them over time (issue 17): a discovery-mode switch, a node
restarted with fewer entities, the hub down, a replaced board. Each runs real agents against a
real Mosquitto; an observer subscribed from the start plays Home Assistant, and what it
received, in order, is replayed into HA's recorded discovery behaviour
(``tools/ha_check/recorded.py``, HA 2024.3 and 2025.4) to see what HA would keep."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import wait_for
from lab import FAST, Recorder, recorder, running_agent, running_hub, running_node

from spark.app.config.models import SparkConfig
from spark.app.runtime import make_agent
from spark.core.agent.agent import NodeAgent

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "ha_check"))
from recorded import HomeAssistant

MIGRATE = {"migrate_discovery": True}
SETTLE = 0.3  # s between the handshake's new configs and clearing the old topics


def lab_config(broker: Any, tmp_path: Path, node: dict[str, Any], **hub: Any) -> SparkConfig:
    return broker.spark_config(nodes=[node], hub={
        "site": "lab", "identity_file": str(tmp_path / "spark.identity.json"),
        "migrate_settle": SETTLE, **hub})


def replay(rec: Recorder, version: str = "2025.4") -> HomeAssistant:
    """What HA ``version``, connected since the observer subscribed, made of the traffic."""
    ha = HomeAssistant(version)
    for msg in rec.messages:
        ha.receive(msg.topic, bytes(msg.payload))
    return ha


async def retained(broker: Any, *filters: str) -> dict[str, bytes]:
    """What a client subscribing now gets: the broker's retained messages (non-empty)."""
    cfg = broker.spark_config()
    async with recorder(cfg, "admin", broker.passwords["admin"], *filters, "spark/hub/marker"
                        ) as rec:
        assert rec.client is not None
        await rec.client.publish_confirmed("spark/hub/marker", b"end", 1, False)
        await wait_for(lambda: rec.on("spark/hub/marker"), 5, what="marker loopback")
        return {m.topic: bytes(m.payload) for m in rec.messages if m.retain and m.payload}


def unique_ids(configs: dict[str, bytes]) -> set[str]:
    out: set[str] = set()
    for raw in configs.values():
        body = orjson.loads(raw)
        if "components" in body:
            out |= {c["unique_id"] for c in body["components"].values() if "unique_id" in c}
        elif "unique_id" in body:
            out.add(body["unique_id"])
    return out


def announced(rec: Recorder, node: NodeAgent) -> bool:
    """Every entity's per-entity config, with the node's current unique ids, went out."""
    seen = {m.topic: m.payload for m in rec.messages if m.payload}
    layout = node.layout
    for key, entity in node.entities.items():
        raw = seen.get(layout.discovery(entity.platform, node.node_id, key))
        if raw is None or orjson.loads(raw).get("unique_id") != f"{node.unique_prefix}_{key}":
            return False
    return True


async def run_once(cfg: SparkConfig, node_id: str, password: str,
                   until: Any = None) -> NodeAgent:
    async with running_node(cfg, node_id, password) as node:
        if until is not None:
            await wait_for(lambda: until(node), 10)
        return node


# ---- 1. hub.discovery_mode switched on a running HA ------------------------------------------
@pytest.mark.parametrize(("first", "then"), [("entity", "device"), ("device", "entity")])
async def test_discovery_mode_switch_keeps_every_entity(fresh_broker, tmp_path, first, then):
    broker, pw = fresh_broker, fresh_broker.passwords
    node = {"id": "sim1", "kind": "simulated", "seed": 1, "state_interval": 3600}
    before = lab_config(broker, tmp_path, node, discovery_mode=first)
    after = lab_config(broker, tmp_path, node, discovery_mode=then)
    old_topics = (lambda d: {t for t in d if "/device/" in t}) if first == "device" \
        else (lambda d: {t for t in d if "/device/" not in t})
    async with recorder(before, "admin", pw["admin"], "homeassistant/#", "spark/+/availability",
                        "spark/+/+/state") as ha_view:
        async with running_hub(before, pw["hub"]), \
                running_node(before, "sim1", pw["sim1"]) as node1:
            await wait_for(lambda: len(unique_ids({m.topic: m.payload for m in ha_view.messages
                                                   if "sim1" in m.topic and m.payload
                                                   and m.topic.endswith("config")}))
                           >= len(node1.entities), 10)
        first_configs = await retained(broker, "homeassistant/+/sim1/+/config",
                                       "homeassistant/device/sim1/config")
        ha_before = replay(ha_view)
        ids_before = {u: e for u, e in ha_before.registered().items() if "sim1" in u}
        assert len(ids_before) == len(node1.entities)
        n_before = len(ha_view.messages)

        async with running_hub(after, pw["hub"]) as hub, \
                running_node(after, "sim1", pw["sim1"]) as node2:
            await wait_for(lambda: all(any(m.topic == t and not m.payload
                                           for m in ha_view.messages[n_before:])
                                       for t in old_topics(first_configs)), 10,
                           what="old discovery topics cleared")
            switch = ha_view.messages[n_before:]
            # HA's order: migrate on every old topic, then the new configs, then the clears
            seq = [(m.topic, orjson.loads(m.payload) if m.payload else None) for m in switch
                   if m.topic.startswith("homeassistant/") and "sim1" in m.topic]
            migrate_at = [i for i, (t, b) in enumerate(seq) if b == MIGRATE]
            assert {seq[i][0] for i in migrate_at} == old_topics(first_configs)
            new_at = [i for i, (t, b) in enumerate(seq)
                      if b not in (None, MIGRATE) and t not in old_topics(first_configs)]
            cleared_at = [i for i, (t, b) in enumerate(seq)
                          if b is None and t in old_topics(first_configs)]
            assert max(migrate_at) < min(new_at) < min(cleared_at)
            # our own hub kept every entity, same entity ids, no duplicates
            reg = hub.registry
            assert reg is not None
            await wait_for(lambda: all(reg.by_unique_id(u) is not None for u in ids_before), 5)
            assert not [e for e in reg.entities if e.endswith("_2")]
        final = await retained(broker, "homeassistant/+/sim1/+/config",
                               "homeassistant/device/sim1/config")
        assert not old_topics(final) & old_topics(first_configs)
        assert unique_ids(final) == unique_ids(first_configs)
        assert node2.unique_prefix == node1.unique_prefix == "spark_lab_sim1"

    ha = replay(ha_view, "2025.4")  # HA connected all along
    assert {u: e for u, e in ha.registered().items() if "sim1" in u} == ids_before
    assert not ha.duplicates()
    assert not ha.errors_about("Removing"), "no entity may be removed"
    # after an HA restart: only the retained configs
    restarted = HomeAssistant("2025.4")
    restarted.registry = dict(ha.registry)
    for topic, payload in final.items():
        restarted.receive(topic, payload)
    assert {u: e for u, e in restarted.registered().items() if "sim1" in u} == ids_before

    # HA 2024.3 (no device-based discovery, no handshake): the recorded facts
    old = replay(ha_view, "2024.3")
    loaded = {u for u in old.by_unique_id() if "sim1" in u}
    if then == "device":  # everything it had was cleared; the device config it cannot read
        assert not loaded and old.errors_about("Integration device is not supported")
        assert old.errors_about("required key not provided")  # the migrate payloads
    else:  # it never had the device config's entities; now it has them all
        assert {u for u in old.registered() if "sim1" in u} == set(ids_before)
        assert loaded == {u for u in ids_before if not u.endswith("_commands_rejected")}


# ---- 2. device-based: a NAS restarted with one disk instead of four --------------------------
@pytest.mark.parametrize("mode", ["device", "entity"])
async def test_nas_restarted_with_fewer_disks_removes_the_others(fresh_broker, tmp_path, mode):
    broker, pw = fresh_broker, fresh_broker.passwords
    base = {"id": "nas", "kind": "nas", "state_interval": 0.2, "smart_interval": 0.2,
            "mounts": ["/srv/nas"], "backend": {"type": "simulated", "seed": 1}}
    four = lab_config(broker, tmp_path, {**base, "disks": [f"/dev/sd{c}" for c in "abcd"]},
                      discovery_mode=mode)
    one = lab_config(broker, tmp_path, {**base, "disks": ["/dev/sda"]}, discovery_mode=mode)
    async with recorder(four, "admin", pw["admin"], "homeassistant/#", "spark/nas/#") as ha_view:
        await run_once(four, "nas", pw["nas"], until=lambda n: all(
            ha_view.last(f"spark/nas/disk_sd{c}_temperature/state") for c in "abcd"))
        held = await retained(broker, "spark/nas/+/state")
        assert "spark/nas/disk_sdd_temperature/state" in held
        ha = replay(ha_view)
        disks_before = {e for e in ha.by_unique_id().values() if "disk_sd" in e}
        assert {d for d in ("sda", "sdb", "sdc", "sdd")
                if any(f"disk_{d}_" in e for e in disks_before)} == {"sda", "sdb", "sdc", "sdd"}

        n_before = len(ha_view.messages)
        await run_once(one, "nas", pw["nas"], until=lambda n: any(
            m.topic == "spark/nas/disk_sda_temperature/state" and m.payload
            for m in ha_view.messages[n_before:]) and any(
            m.topic == "spark/nas/disk_sdd_temperature/state" and not m.payload
            for m in ha_view.messages[n_before:]))

        async def states_cleared() -> bool:
            now = await retained(broker, "spark/nas/+/state", "spark/nas/+/attributes")
            return not [t for t in now if any(f"disk_sd{c}" in t for c in "bcd")]
        await wait_for(states_cleared, 10, what="dropped disks' retained states cleared")
        configs = await retained(broker, "homeassistant/+/nas/+/config",
                                 "homeassistant/device/nas/config")
    if mode == "device":
        comps = orjson.loads(configs["homeassistant/device/nas/config"])["components"]
        dropped = {k: c for k, c in comps.items() if any(f"disk_sd{x}" in k for x in "bcd")}
        assert dropped and all(set(c) == {"platform"} for c in dropped.values())
        assert all("platform" in c and len(c) > 1 for k, c in comps.items() if "disk_sda" in k)
    else:
        assert not [t for t in configs if any(f"disk_sd{x}" in t for x in "bcd")]
        assert [t for t in configs if "disk_sda" in t]
    ha = replay(ha_view)
    left = {e for e in ha.by_unique_id().values() if "disk_sd" in e}
    assert left and all("disk_sda" in e for e in left), sorted(left)
    assert not ha.duplicates()


# ---- 3. the hub down: a node stays controllable from HA --------------------------------------
@pytest.mark.parametrize("gate", [False, True])
async def test_hub_down_node_switch_still_works_from_home_assistant(fresh_broker, tmp_path, gate):
    broker, pw = fresh_broker, fresh_broker.passwords
    cfg = lab_config(broker, tmp_path, {"id": "sim1", "kind": "simulated", "seed": 1,
                                        "state_interval": 3600}, gate_availability=gate)
    async with recorder(cfg, "homeassistant", pw["homeassistant"], "homeassistant/#",
                        "spark/+/availability", "spark/sim1/lamp/state") as ha_view, \
            running_node(cfg, "sim1", pw["sim1"]) as node:
        async with running_hub(cfg, pw["hub"]):
            await wait_for(lambda: ha_view.last("spark/hub/availability") == b"online", 10)
        await wait_for(lambda: ha_view.last("spark/hub/availability") == b"offline", 10)
        body = orjson.loads(ha_view.last("homeassistant/switch/sim1/lamp/config") or b"{}")
        topics = [a["topic"] for a in body["availability"]]
        if not gate:
            assert topics == ["spark/sim1/availability"] and "availability_mode" not in body
        else:  # the opt-in: HA needs both online
            assert topics == ["spark/sim1/availability", "spark/hub/availability"]
            assert body["availability_mode"] == "all"
        ha = replay(ha_view)
        assert ha.available("switch.sim1_lamp") is not gate
        # HA's service call: a command on the command topic, as the homeassistant account
        was = node.state("lamp")
        assert ha_view.client is not None
        await ha_view.client.publish_confirmed(body["command_topic"],
                                               body["payload_off" if was else "payload_on"], 1,
                                               False)
        want = body["state_off" if was else "state_on"].encode()
        await wait_for(lambda: ha_view.last("spark/sim1/lamp/state") == want, 5,
                       what="the node's retained state follows the command")
    state = await retained(broker, "spark/sim1/lamp/state")
    assert state["spark/sim1/lamp/state"] == want


# ---- 4. a replaced board (different hwid, same config) ---------------------------------------
async def test_board_replacement_keeps_unique_ids(fresh_broker, tmp_path):
    broker, pw = fresh_broker, fresh_broker.passwords
    node = {"id": "sim1", "kind": "simulated", "seed": 1, "state_interval": 3600}
    board1 = lab_config(broker, tmp_path, {**node, "hardware_id": "10000000aaaa1111"})
    board2 = lab_config(broker, tmp_path, {**node, "hardware_id": "10000000bbbb2222"})
    async with recorder(board1, "admin", pw["admin"], "homeassistant/#",
                        "spark/+/availability") as ha_view, running_hub(board1, pw["hub"]) as hub:
        first = await run_once(board1, "sim1", pw["sim1"], until=lambda n: announced(ha_view, n))
        ids1 = unique_ids(await retained(broker, "homeassistant/+/sim1/+/config"))
        second = await run_once(board2, "sim1", pw["sim1"], until=lambda n: announced(ha_view, n))
        ids2 = unique_ids(await retained(broker, "homeassistant/+/sim1/+/config"))
        reg = hub.registry
        assert reg is not None
        assert not [e for e in reg.entities if e.endswith("_2")]
    assert first.hwid != second.hwid and ids1 == ids2
    assert all(u.startswith("spark_lab_sim1_") for u in ids1)
    ha = replay(ha_view)
    assert not ha.duplicates() and set(ha.registered()) >= ids1


async def test_install_with_hardware_based_ids_keeps_them_on_a_new_board(fresh_broker,
                                                                         tmp_path):
    """An install from before hub.site: its retained discovery carries spark_<hwid>_<node>
    unique ids. The node adopts that prefix (HA keys its registry on unique ids: a new one
    would be a new entity) and keeps it in the identity file beside the config."""
    broker, pw = fresh_broker, fresh_broker.passwords
    node = {"id": "sim1", "kind": "simulated", "seed": 1, "state_interval": 3600}
    identity = tmp_path / "spark.identity.json"
    legacy = "spark_10000000aaaa1111_sim1"
    identity.write_text(orjson.dumps({"nodes": {"sim1": legacy}}).decode())
    old_board = lab_config(broker, tmp_path, {**node, "hardware_id": "10000000aaaa1111"})
    new_board = lab_config(broker, tmp_path, {**node, "hardware_id": "10000000bbbb2222"})
    async with recorder(old_board, "admin", pw["admin"], "homeassistant/#",
                        "spark/+/availability") as ha_view, \
            running_hub(old_board, pw["hub"]) as hub:
        await run_once(old_board, "sim1", pw["sim1"],  # what the old version published
                       until=lambda n: announced(ha_view, n))
        ids_old = unique_ids(await retained(broker, "homeassistant/+/sim1/+/config"))
        assert ids_old and all(u.startswith(legacy + "_") for u in ids_old)
        identity.unlink()  # a new SD card: the config was copied, the identity file was not
        agent = make_agent(new_board, new_board.node("sim1"), pw["sim1"], announce_delay=FAST)
        async with running_agent(agent):
            await wait_for(lambda: agent.unique_prefix == legacy and announced(ha_view, agent), 5)
        ids_new = unique_ids(await retained(broker, "homeassistant/+/sim1/+/config"))
        reg = hub.registry
        assert reg is not None
        assert not [e for e in reg.entities if e.endswith("_2")]
    assert ids_new == ids_old
    assert orjson.loads(identity.read_text()) == {"nodes": {"sim1": legacy}}
    ha = replay(ha_view)
    assert not ha.duplicates()
    assert set(ha.registered()) >= ids_old
