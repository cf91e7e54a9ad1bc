"""One process per node id: a second agent with a live owner's id is refused before it
connects with its will; a stale retained ``online`` (a crashed owner) does not block a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from helpers import wait_for
from lab import FAST, publish_as, recorder, running_agent, running_hub, running_node

from spark.app.runtime import build_hub, make_agent
from spark.core.agent.ownership import NodeIdTaken, live_owners


@pytest.fixture
def cfg(broker):
    return broker.spark_config(nodes=[{"id": "sim3", "kind": "simulated", "seed": 1,
                                       "state_interval": 3600}])


def _agent(cfg, node_id, password):
    return make_agent(cfg, cfg.node(node_id), password, announce_delay=FAST)


async def test_a_second_agent_with_a_live_owners_id_is_refused_and_the_first_stays_online(
        broker, cfg):
    pw = broker.passwords
    avail = "spark/sim3/availability"
    async with recorder(cfg, "admin", pw["admin"], avail) as rec, \
            running_node(cfg, "sim3", pw["sim3"]):
        second = _agent(cfg, "sim3", pw["sim3"])
        with pytest.raises(NodeIdTaken) as refused:
            await second.run()
        message = str(refused.value)
        assert "'sim3' is already served by a running process" in message
        assert f"pid {os.getpid()}" in message and "not starting it again" in message
        assert second.client is None  # it never connected (no will that could fire)
        # the first one still answers, and nobody published offline for it
        owners = await live_owners(cfg.mqtt, cfg.mqtt.layout(), ["sim3"],
                                   username="sim3", password=pw["sim3"])
        assert set(owners) == {"sim3"}
        live = [m.payload for m in rec.on(avail) if not m.retain]  # (retained: earlier tests)
        assert b"offline" not in live
        assert rec.last(avail) == b"online"


async def test_the_hub_id_is_protected_too(broker, cfg):
    async with running_hub(cfg, broker.passwords["hub"]):
        with pytest.raises(NodeIdTaken, match="'hub' is already served"):
            await build_hub(cfg, password=broker.passwords["hub"]).run()


async def test_a_stale_online_from_a_crashed_owner_does_not_block_a_restart(broker, cfg):
    pw = broker.passwords
    # what a process killed before the broker noticed leaves behind
    await publish_as(cfg, "sim3", pw["sim3"], [("spark/sim3/availability", "online", True)])
    owners = await live_owners(cfg.mqtt, cfg.mqtt.layout(), ["sim3"],
                               username="sim3", password=pw["sim3"], timeout=0.5)
    assert owners == {}
    agent = _agent(cfg, "sim3", pw["sim3"])
    agent.ctx.owner_probe_timeout = 0.5
    async with running_agent(agent) as running:
        assert running.client is not None and running.client.connected


async def test_ids_that_are_not_online_are_free_without_waiting_for_a_ping(broker, cfg):
    pw = broker.passwords
    await publish_as(cfg, "sim3", pw["sim3"], [("spark/sim3/availability", "offline", True)])
    # a probe timeout far beyond the test's own deadline: only a skipped ping passes
    async with asyncio.timeout(30):
        owners = await live_owners(cfg.mqtt, cfg.mqtt.layout(), ["sim3", "never_seen"],
                                   username="sim3", password=pw["sim3"], timeout=600)
    assert owners == {}


async def test_an_offline_published_by_someone_else_while_serving_is_corrected(broker, cfg):
    pw = broker.passwords
    avail = "spark/sim3/availability"
    async with running_node(cfg, "sim3", pw["sim3"]), \
            recorder(cfg, "admin", pw["admin"], avail) as rec:
        await wait_for(lambda: rec.last(avail) == b"online", 10)
        # what a duplicate's will (or clean exit) did to the first instance in issue 13
        await publish_as(cfg, "sim3", pw["sim3"], [(avail, "offline", True)])
        await wait_for(lambda: rec.payloads(avail)[-2:] == [b"offline", b"online"], 10,
                       what="online again after the foreign offline")


async def test_our_own_offline_on_the_way_out_is_not_contradicted(broker, cfg):
    pw = broker.passwords
    avail = "spark/sim3/availability"
    async with recorder(cfg, "admin", pw["admin"], avail) as rec:
        agent = _agent(cfg, "sim3", pw["sim3"])
        ready = asyncio.Event()
        task = asyncio.create_task(agent.run(ready))
        async with asyncio.timeout(10):
            await ready.wait()
        task.cancel()  # as SIGTERM does in `spark node`: cancelled, not stop()ped
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await wait_for(lambda: rec.last(avail) == b"offline", 10)
        # the agent's client is closed; a round trip of our own flushes what it sent before
        rec.watch("spark/sim3/probe-end")
        await rec.client.publish_confirmed("spark/sim3/probe-end", b"end", 1)
        await wait_for(lambda: rec.payloads("spark/sim3/probe-end"), 10)
        assert rec.last(avail) == b"offline"
