"""Attacks on a node's read-back of its retained discovery (``core/agent/reconcile.py``,
``keeper.py``; issue 17): configs planted under the node's discovery topics by someone who could
write there (a broker without our ACLs, e.g. Home Assistant's own Mosquitto, before the node's
first start; here the test's admin account), against a real Mosquitto and the real power node.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from broker_fixture import ADMIN, RunningBroker
from helpers import wait_for
from lab import recorder, running_node

DEVICE_TOPIC = "homeassistant/device/power/config"
OLD = "spark/power/old_disk"


async def test_planted_component_keys_do_not_stop_the_cleanup_of_dropped_entities(
        fresh_broker: RunningBroker, tmp_path: Path) -> None:
    """Finding: a retained device config with component keys ``#``, ``request`` (reserved)
    or ``a/b``, or a per-entity config under the reserved id ``availability``, made the node's
    cleanup task raise TopicError on the first such key (building the key's state topic), so
    the state and attributes of a really dropped entity (``old_disk``) stayed retained: HA and
    the hub kept showing a disk that is gone. Such keys are now not the node's to clear (nor,
    in device mode, carried on as removal markers in its device config)."""
    pw = fresh_broker.passwords
    cfg = fresh_broker.spark_config(nodes=[
        {"id": "power", "kind": "power", "data_dir": str(tmp_path), "state_interval": 3600,
         "backend": {"type": "simulated"}}])
    live = {"name": "planted", "state_topic": "spark/power/x/state"}
    planted = {"dev": {"ids": ["spark_home_power"], "name": "Power"}, "o": {"name": "x"},
               "cmps": {"#": {"p": "sensor", **live}, "request": {"p": "sensor", **live},
                        "a/b": {"p": "sensor", **live}, "old_disk": {"p": "sensor", **live}}}
    async with recorder(cfg, ADMIN, pw[ADMIN], f"{OLD}/#", DEVICE_TOPIC,
                        "homeassistant/sensor/power/+/config") as seen:
        client = seen.client
        await client.publish_confirmed("homeassistant/sensor/power/availability/config",
                                       orjson.dumps({"name": "x"}), 1, True)
        await client.publish_confirmed(DEVICE_TOPIC, orjson.dumps(planted), 1, True)
        await client.publish_confirmed(f"{OLD}/state", b"42", 1, True)
        await client.publish_confirmed(f"{OLD}/attributes", b'{"serial": "x"}', 1, True)
        await wait_for(lambda: seen.last(f"{OLD}/state") == b"42", 5, what="planted state")
        async with running_node(cfg, "power", pw["power"]) as power:
            await wait_for(lambda: seen.last(f"{OLD}/state") == b""
                           and seen.last(f"{OLD}/attributes") == b"", 20,
                           what="the dropped entity's retained state and attributes cleared")
            await wait_for(lambda: seen.last(
                "homeassistant/sensor/power/availability/config") == b"", 10,
                what="the planted per-entity config cleared")
            assert power.client is not None and power.client.connected
