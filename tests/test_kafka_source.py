"""Cloud -> edge over Kafka with real services: Tansu, Mosquitto, the hub and a simulated node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from helpers import wait_for
from kafka_fixture import committed, produce, read_topic
from lab import publish_as, recorder, running_hub, running_node

from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.messages import CloudCommand, CommandResult, ModelUpdate
from spark.bridges.sinks.kafka.source import CloudCommandSource
from spark.core.agent.agent import NodeAgent
from spark.core.messages.records import EventRecord, record_from_payload
from spark.hub.app import Hub

GROUP = "prime-spark-edge"
LAMP = "switch.sim1_lamp"


@pytest.fixture
def cfg(broker):
    return broker.spark_config(nodes=[{"id": "sim1", "kind": "simulated", "seed": 1,
                                       "state_interval": 3600}])


def kafka_config(bootstrap: str, **source: Any) -> KafkaSinkConfig:
    return KafkaSinkConfig.model_validate({
        "bootstrap_servers": bootstrap, "delivery_timeout": 5, "connect_timeout": 5,
        "source": {"allow_entities": ["switch.sim1_*", "select.sim1_*"],
                   "allow_services": ["turn_on", "turn_off", "toggle", "select_option"],
                   "poll_timeout": 0.2, **source},
    })


def state(hub: Hub, entity_id: str) -> str | None:
    entity = hub.registry.get(entity_id) if hub.registry is not None else None
    return entity.state if entity is not None else None


@contextlib.asynccontextmanager
async def edge(broker_run, cfg) -> AsyncIterator[tuple[Hub, NodeAgent]]:
    pw = broker_run.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]) as node:
        await wait_for(lambda: state(hub, LAMP) == "off"
                       and state(hub, "select.sim1_mode") is not None, 10, what="sim1 ready")
        yield hub, node


@contextlib.asynccontextmanager
async def source(hub: Hub, kcfg: KafkaSinkConfig) -> AsyncIterator[CloudCommandSource]:
    assert hub.services is not None and hub.client is not None
    async with CloudCommandSource(kcfg, hub.services, hub.client.publish_confirmed,
                                  hub.layout, device_id=hub.node_id) as src:
        async with asyncio.timeout(20):
            await src.ready.wait()
        yield src


async def send(bootstrap: str, topic: str, *payloads: bytes, key: bytes = b"k") -> None:
    await asyncio.to_thread(produce, bootstrap, topic, [(key, p) for p in payloads])


async def results(bootstrap: str, count: int) -> list[CommandResult]:
    """The results so far, in the order of the commands (one partition of cloud.commands)."""
    got = await asyncio.to_thread(read_topic, bootstrap, "cloud.command.results", at_least=count)
    out = [CommandResult.from_payload(g.value or b"") for g in got]
    return sorted(out, key=lambda r: int((r.source or "@0").rsplit("@", 1)[1]))


def command(cid: str, entity_id: str = LAMP, service: str = "turn_on", **more: Any) -> bytes:
    return CloudCommand(id=cid, entity_id=entity_id, service=service, **more).to_payload()


async def test_cloud_command_turns_on_the_lamp(broker, cfg, kafka):
    kcfg = kafka_config(kafka.bootstrap)
    async with edge(broker, cfg) as (hub, node), source(hub, kcfg) as src:
        assert node.state("lamp") is False
        await send(kafka.bootstrap, "cloud.commands", command("c-1"), key=LAMP.encode())
        await wait_for(lambda: node.state("lamp") is True, 10, what="lamp on at the node")
        await wait_for(lambda: state(hub, LAMP) == "on", 10)
        [result] = await results(kafka.bootstrap, 1)
        assert (result.id, result.status, result.entity_id) == ("c-1", "ok", LAMP)
        assert (result.topic, result.payload) == ("spark/sim1/lamp/set", "ON")
        await wait_for(lambda: src.stats.committed == 1, 10)
        assert src.stats.executed == 1 and src.stats.rejected == 0
    offsets = await asyncio.to_thread(committed, kafka.bootstrap, GROUP, "cloud.commands", 3)
    assert sorted(offsets.values())[-1] == 1 and sum(o for o in offsets.values() if o > 0) == 1


async def test_bad_unknown_and_disallowed_commands_are_rejected_and_reported(
        broker, cfg, kafka, caplog):
    kcfg = kafka_config(kafka.bootstrap)
    past = datetime.now(UTC) - timedelta(minutes=1)
    bad = [
        b"{not json",
        orjson.dumps({"id": "c-2", "entity_id": LAMP, "service": "turn_on", "extra": 1}),
        command("c-3", "switch.sim1_ghost"),
        command("c-4", "sensor.sim1_temperature"),
        command("c-5", LAMP, "press"),
        command("c-6", "select.sim1_mode", "select_option", data={"option": "turbo"}),
        command("c-7", expires_at=past),
    ]
    good = command("c-8", "select.sim1_mode", "select_option", data={"option": "eco"})
    caplog.set_level(logging.WARNING, logger="spark.bridges.sinks.kafka.source")
    async with edge(broker, cfg) as (hub, node), source(hub, kcfg) as src:
        await send(kafka.bootstrap, "cloud.commands", *bad, good)
        await wait_for(lambda: node.state("mode") == "eco", 10, what="mode eco")
        got = await results(kafka.bootstrap, 8)
        await wait_for(lambda: src.stats.committed == 8, 10)
        assert node.state("lamp") is False  # nothing rejected reached the node
    by_id = {r.id: r for r in got}
    assert [r.status for r in got] == ["rejected"] * 7 + ["ok"]
    assert got[0].id is None and "bad command" in (got[0].reason or "")
    assert "extra" in (by_id["c-2"].reason or "")
    assert by_id["c-3"].reason == "unknown entity switch.sim1_ghost"
    assert "not allowed" in (by_id["c-4"].reason or "")
    assert "not allowed" in (by_id["c-5"].reason or "")
    assert "not an option" in (by_id["c-6"].reason or "")
    assert "expired" in (by_id["c-7"].reason or "")
    assert by_id["c-8"].payload == "eco"
    logged = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert len(logged) == 7 and any("switch.sim1_ghost" in m for m in logged)
    events = await asyncio.to_thread(read_topic, kafka.bootstrap, "analytics.events", at_least=7)
    records = [record_from_payload(g.value or b"") for g in events]
    assert all(isinstance(r, EventRecord) and r.event_type == "cloud_command_rejected"
               for r in records)
    assert sorted(str(r.data.get("id")) for r in records)[:6] == [
        "None", "c-2", "c-3", "c-4", "c-5", "c-6"]
    offsets = await asyncio.to_thread(committed, kafka.bootstrap, GROUP, "cloud.commands", 3)
    assert max(offsets.values()) == 8


async def test_offsets_committed_so_a_restarted_source_does_not_repeat(broker, cfg, kafka):
    """Started from the earliest offset, a new source would re-read c-1 if it had not been
    committed; it is not executed again (lamp/set published once)."""
    kcfg = kafka_config(kafka.bootstrap, start_from="earliest")
    pw = broker.passwords
    async with edge(broker, cfg) as (hub, node), \
            recorder(cfg, "admin", pw["admin"], "spark/sim1/+/set") as rec:
        async with source(hub, kcfg) as first:
            await send(kafka.bootstrap, "cloud.commands", command("c-1"))
            await wait_for(lambda: first.stats.committed == 1, 10)
            await wait_for(lambda: node.state("lamp") is True, 10)
        async with source(hub, kcfg) as second:
            await send(kafka.bootstrap, "cloud.commands",
                       command("c-2", "select.sim1_mode", "select_option", data={"option": "away"}))
            await wait_for(lambda: second.stats.committed == 1, 10)
            await wait_for(lambda: rec.last("spark/sim1/mode/set") == b"away", 10)
            assert second.stats.executed == 1 and second.stats.duplicates == 0
        assert rec.payloads("spark/sim1/lamp/set") == [b"ON"]
        assert [r.id for r in await results(kafka.bootstrap, 2)] == ["c-1", "c-2"]


async def test_offset_committed_only_after_the_mqtt_publish_is_acknowledged(fresh_broker, kafka):
    """Mosquitto is frozen (SIGSTOP): the hub's link stays up and the entity available, but the
    command's PUBACK cannot come; the offset is committed only once Mosquitto resumes."""
    cfg = fresh_broker.spark_config(nodes=[{"id": "sim1", "kind": "simulated", "seed": 1,
                                            "state_interval": 3600}])
    kcfg = kafka_config(kafka.bootstrap)
    pid = fresh_broker.process.pid
    assert pid is not None
    async with edge(fresh_broker, cfg) as (hub, node), source(hub, kcfg) as src:
        os.kill(pid, signal.SIGSTOP)
        try:
            await send(kafka.bootstrap, "cloud.commands", command("c-1"))
            await wait_for(lambda: src.inflight is not None, 10, what="command received")
            offsets = await asyncio.to_thread(committed, kafka.bootstrap, GROUP,
                                              "cloud.commands", 3)
            assert all(o < 0 for o in offsets.values()) and src.stats.committed == 0
            assert src.stats.executed == 0  # still waiting for the broker's acknowledgement
        finally:
            os.kill(pid, signal.SIGCONT)
        await wait_for(lambda: src.stats.committed == 1, 20, what="committed after the ack")
        await wait_for(lambda: node.state("lamp") is True, 10)
    offsets = await asyncio.to_thread(committed, kafka.bootstrap, GROUP, "cloud.commands", 3)
    assert max(offsets.values()) == 1
    [result] = await results(kafka.bootstrap, 1)
    assert result.status == "ok"


async def test_model_update_becomes_a_retained_announcement(broker, cfg, kafka, caplog):
    kcfg = kafka_config(kafka.bootstrap)
    update = ModelUpdate(model="yolov8n", version="1.2.0", sha256="ab" * 32, size=6_200_000,
                         url="https://models.example.net/yolov8n-1.2.0.hef", nodes=["vision"])
    pw = broker.passwords
    async with edge(broker, cfg) as (hub, _node), source(hub, kcfg) as src:
        topic = hub.layout.models_announcement()
        assert topic == "spark/cloud/models"
        await send(kafka.bootstrap, "models.updates", b"[]", update.to_payload())
        await wait_for(lambda: src.stats.committed == 2, 10, what="both offsets committed")
        assert src.stats.models == 1
    assert any("model update" in r.getMessage() and "dropped" in r.getMessage()
               for r in caplog.records)
    try:  # a node that subscribes later gets it: retained
        async with recorder(cfg, "sim1", pw["sim1"], topic) as rec:
            await wait_for(lambda: rec.last(topic) is not None, 10, what="retained announcement")
            assert rec.on(topic)[0].retain
            assert ModelUpdate.model_validate_json(rec.last(topic) or b"") == update
    finally:
        await publish_as(cfg, "admin", pw["admin"], [(topic, b"", True)])


async def test_source_rides_out_a_kafka_restart(broker, cfg, durable_kafka):
    """Tansu (S3 storage) stops and comes back: the source keeps its assignment, commands sent
    after the restart are executed, the one before is not repeated (its offset survived)."""
    kcfg = kafka_config(durable_kafka.bootstrap, start_from="earliest")
    bootstrap = durable_kafka.bootstrap
    async with edge(broker, cfg) as (hub, node), source(hub, kcfg) as src:
        await send(bootstrap, "cloud.commands", command("c-1"))
        await wait_for(lambda: src.stats.committed == 1, 20)
        await asyncio.to_thread(durable_kafka.stop)
        await asyncio.to_thread(durable_kafka.start)
        await send(bootstrap, "cloud.commands", command("c-2", service="turn_off"))
        await wait_for(lambda: src.stats.committed == 2, 30, what="c-2 after the restart")
        await wait_for(lambda: node.state("lamp") is False, 10)
        assert src.stats.executed == 2 and src.stats.duplicates == 0
    offsets = await asyncio.to_thread(committed, bootstrap, GROUP, "cloud.commands", 3)
    assert max(offsets.values()) == 2
    assert [r.id for r in await results(bootstrap, 2)] == ["c-1", "c-2"]


def cloud_tasks() -> set[str]:
    return {t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("hub-cloud-")}


async def test_the_hub_runs_the_cloud_source(broker, kafka, caplog):
    """What `spark hub` and `spark up` run: with a kafka sink in bridges.sinks, the hub itself
    consumes cloud.commands (no source started here), as task hub-cloud-<sink>, and stops it
    with the hub. A command toggles the simulated lamp; a malformed one is rejected, reported
    on cloud.command.results and analytics.events, and logged."""
    sink = {"type": "kafka", **kafka_config(kafka.bootstrap).model_dump(
        mode="json", exclude_defaults=True)}
    cfg = broker.spark_config(nodes=[{"id": "sim1", "kind": "simulated", "seed": 1,
                                      "state_interval": 3600}], bridges={"sinks": [sink]})
    caplog.set_level(logging.WARNING, logger="spark.bridges.sinks.kafka.source")
    async with edge(broker, cfg) as (hub, node):
        assert list(hub.cloud_sources) == ["kafka"] and cloud_tasks() == {"hub-cloud-kafka"}
        src = hub.cloud_sources["kafka"]
        async with asyncio.timeout(20):
            await src.ready.wait()
        malformed = orjson.dumps({"id": "c-2", "entity_id": LAMP})  # no service
        await send(kafka.bootstrap, "cloud.commands", command("c-1", service="toggle"),
                   malformed, key=LAMP.encode())
        await wait_for(lambda: node.state("lamp") is True, 10, what="lamp toggled on")
        ok, rejected = await results(kafka.bootstrap, 2)
        await wait_for(lambda: src.stats.committed == 2, 10)
    assert cloud_tasks() == set()  # stopped with the hub
    assert (ok.id, ok.status, ok.payload) == ("c-1", "ok", "ON")
    assert (rejected.id, rejected.status) == ("c-2", "rejected")
    assert "service" in (rejected.reason or "")
    [event] = await asyncio.to_thread(read_topic, kafka.bootstrap, "analytics.events",
                                      at_least=1)
    record = record_from_payload(event.value or b"")
    assert isinstance(record, EventRecord) and record.data["id"] == "c-2"
    assert any("rejected" in r.getMessage() and "c-2" in r.getMessage() for r in caplog.records)


async def test_the_hub_runs_no_cloud_source_unless_configured(broker, kafka):
    off = {"type": "kafka", **kafka_config(kafka.bootstrap, enabled=False).model_dump(
        mode="json", exclude_defaults=True)}
    for sinks in ([], [off]):
        cfg = broker.spark_config(bridges={"sinks": sinks})
        async with running_hub(cfg, broker.passwords["hub"]) as hub:
            assert hub.cloud_sources == {} and cloud_tasks() == set()


async def test_cloud_command_on_an_optimistic_entity_sets_its_state(broker, cfg, kafka):
    """A third-party switch with no state topic is optimistic (HA): a command from the cloud
    sets its state at once, as one from the panel does."""
    plug = "switch.garden_pump"
    await publish_as(cfg, "zigbee2mqtt", broker.passwords["zigbee2mqtt"], [
        ("homeassistant/switch/0x00124b0001/pump/config", orjson.dumps({
            "unique_id": "0x00124b0001_pump", "object_id": "garden_pump", "name": "Pump",
            "command_topic": "zigbee2mqtt/garden/set"}), True)])
    kcfg = kafka_config(kafka.bootstrap, allow_entities=["switch.*"])
    async with edge(broker, cfg) as (hub, _node), source(hub, kcfg) as src:
        await wait_for(lambda: hub.registry is not None and hub.registry.get(plug) is not None,
                       10, what="the pump discovered")
        assert state(hub, plug) is None
        await send(kafka.bootstrap, "cloud.commands", command("c-opt", plug), key=plug.encode())
        await wait_for(lambda: state(hub, plug) == "on", 10, what="the pump assumed on")
        await wait_for(lambda: src.stats.executed == 1, 10)
    await publish_as(cfg, "zigbee2mqtt", broker.passwords["zigbee2mqtt"], [
        ("homeassistant/switch/0x00124b0001/pump/config", b"", True)])
