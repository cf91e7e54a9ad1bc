"""A poisoned cloud command (Kafka ``cloud.commands``) against the hub's services, with real
Tansu, Mosquitto and the hub (issue 17's platforms): one command the platform cannot compute
must be rejected and reported, not taken for a broken link."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from helpers import wait_for
from kafka_fixture import produce, read_topic
from lab import publish_as, recorder, running_hub

from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.messages import CloudCommand, CommandResult
from spark.bridges.sinks.kafka.source import CloudCommandSource

LIGHT = "light.poison_bulb"
SET = "zigbee2mqtt/poison_bulb/set"
BULB = {"object_id": "poison_bulb", "unique_id": "0xpoison_light", "name": None,
        "schema": "json", "command_topic": SET, "brightness": True,
        "supported_color_modes": ["color_temp"],
        "device": {"identifiers": ["zigbee2mqtt_0xpoison"], "name": "Poison bulb"}}


def command(cid: str, **data: Any) -> bytes:
    return CloudCommand(id=cid, entity_id=LIGHT, service="turn_on", data=data).to_payload()


async def test_a_command_the_platform_cannot_compute_is_rejected_not_a_restart(
        broker: Any, kafka: Any) -> None:
    """Finding: ``{"color_temp_kelvin": 0}`` for a colour-temperature light raised
    ZeroDivisionError inside the platform; the cloud source's loop took it for a broken link:
    it tore down its Kafka clients and backed off (the link shown down), then went on past
    the command, which never got a result (the cloud is never told it was refused). It is now
    rejected with the reason like any bad command, with no restart."""
    cfg = broker.spark_config(nodes=[])
    pw = broker.passwords
    kcfg = KafkaSinkConfig.model_validate({
        "bootstrap_servers": kafka.bootstrap, "delivery_timeout": 5, "connect_timeout": 5,
        "source": {"allow_entities": ["light.poison_*"], "allow_services": ["turn_on"],
                   "poll_timeout": 0.2}})
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], SET) as device:
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/light/0xpoison/light/config", orjson.dumps(BULB), True)])
        assert hub.registry is not None and hub.services is not None and hub.client is not None
        await wait_for(lambda: hub.registry.get(LIGHT) is not None, 10,  # type: ignore[union-attr]
                       what="the bulb in the registry")
        try:
            async with CloudCommandSource(kcfg, hub.services, hub.client.publish_confirmed,
                                          hub.layout, device_id=hub.node_id) as src:
                async with asyncio.timeout(20):
                    await src.ready.wait()
                await asyncio.to_thread(produce, kafka.bootstrap, "cloud.commands", [
                    (LIGHT.encode(), command("poison-1", color_temp_kelvin=0)),
                    (LIGHT.encode(), command("poison-2", brightness=128))])
                await wait_for(lambda: bool(device.on(SET)), 20,
                               what="the command after the poisoned one reached the bulb")
                assert orjson.loads(device.on(SET)[-1].payload) == {"state": "ON",
                                                                    "brightness": 128}
                got = await asyncio.to_thread(read_topic, kafka.bootstrap,
                                              "cloud.command.results", at_least=2)
                results = {r.id: r for r in (CommandResult.from_payload(g.value or b"")
                                             for g in got)}
                assert results["poison-1"].status == "rejected", results["poison-1"]
                assert "color_temp_kelvin" in (results["poison-1"].reason or "")
                assert results["poison-2"].status == "ok"
                assert src.stats.restarts == 0
        finally:
            await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
                ("homeassistant/light/0xpoison/light/config", b"", True)])
