"""Broker restarts: one on-connect path re-subscribes, re-announces and flushes the queue."""

from __future__ import annotations

from helpers import wait_for
from lab import running_hub, running_node

from spark.core.link import LinkState


async def test_broker_restart_loses_nothing(fresh_broker):
    broker = fresh_broker
    cfg = broker.spark_config(
        nodes=[{"id": "sim1", "kind": "simulated", "state_interval": 3600}],
        mqtt={"reconnect_min": 0.05, "reconnect_max": 0.2},
    )
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]) as node:
        reg = hub.registry
        await wait_for(lambda: reg.get("number.sim1_setpoint") is not None
                       and reg.get("number.sim1_setpoint").state == "21.0", 10)
        first_connects = (hub.client.connect_count, node.client.connect_count)

        await broker.process.stop()
        await wait_for(lambda: node.client.state is not LinkState.UP
                       and hub.client.state is not LinkState.UP, 10)
        # published while the broker is down: queued, not dropped
        node.set_state("setpoint", 25.0)
        node.fire_event("doorbell", "double_press")
        for value in (10.0, 11.0, 12.0):  # retained updates to one topic coalesce
            node.set_state("temperature", value)
        assert node.client.dropped == 0

        await broker.process.start()
        await wait_for(lambda: hub.client.connect_count > first_connects[0]
                       and node.client.connect_count > first_connects[1], 20)
        await wait_for(lambda: reg.get("number.sim1_setpoint").state == "25.0"
                       and reg.get("sensor.sim1_temperature").state == "12.0", 10)
        # the hub's own "online" follows its retained will on the new connection
        await wait_for(lambda: reg.get("switch.sim1_lamp").available, 5)
        # the hub re-subscribed: a new state reaches it, and a command reaches the node
        await hub.services.call("turn_on", "switch.sim1_lamp", wait=True)
        assert node.state("lamp") is True


async def test_offline_queue_is_bounded_and_counts_drops(fresh_broker):
    broker = fresh_broker
    cfg = broker.spark_config(
        nodes=[{"id": "sim2", "kind": "simulated", "state_interval": 3600}],
        mqtt={"offline_queue": 10, "reconnect_min": 0.05, "reconnect_max": 0.2},
    )
    pw = broker.passwords
    async with running_node(cfg, "sim2", pw["sim2"]) as node:
        await broker.process.stop()
        await wait_for(lambda: node.client.state is not LinkState.UP, 10)
        for i in range(25):
            node.fire_event("doorbell", "press", n=i)  # not retained: each one is queued
        assert node.client.dropped == 15
