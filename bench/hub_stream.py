"""The hub bench's message stream: power readings for N entities, their retained discovery
(Zigbee2MQTT style, as the ``bench`` node would publish it) and the final state each should end
in."""

from __future__ import annotations

import orjson

from spark.core.agent.discovery import DeviceInfo, DiscoveryContext, entity_config, hub_identifier
from spark.core.agent.entities import Sensor
from spark.core.topics import ONLINE, TopicLayout

HUB_NODE = "bench"  # publishes the entities the hub learns


def reading(i: int, seq: int) -> bytes:
    """A ~120-byte JSON power reading (values change with every message)."""
    power = ((seq * 7919 + i * 104729) % 400000) / 100
    return orjson.dumps({
        "power": power, "voltage": round(228 + (seq % 40) / 10, 1),
        "current": round(power / 230, 3), "energy_kwh": round(seq * 0.0125 + i, 3),
        "linkquality": 60 + seq % 195, "seq": seq, "ts": 1764160000 + seq * 0.005,
    })


def key(i: int) -> str:
    return f"load_{i}"


def stream(layout: TopicLayout, node: str, n: int, entities: int
           ) -> list[tuple[str, bytes, bool]]:
    topics = [layout.state(node, key(i)) for i in range(entities)]
    return [(topics[s % entities], reading(s % entities, s), False) for s in range(n)]


def discovery(layout: TopicLayout, entities: int) -> list[tuple[str, bytes, bool]]:
    """Retained discovery configs as a node publishes them, plus ``value_template`` (the
    readings are JSON, as from a Zigbee2MQTT power plug), availability online and a first
    retained state per entity."""
    device = DeviceInfo(identifier=f"spark_{HUB_NODE}", name="Bench load", model="Bench feeder",
                        via_device=hub_identifier("hub"))
    ctx = DiscoveryContext(layout, HUB_NODE, "hub", f"spark_{HUB_NODE}", device)
    out = [(layout.availability(HUB_NODE), ONLINE.encode(), True)]
    for i in range(entities):
        sensor = Sensor(key=key(i), name=f"Load {i}", unit="W", device_class="power",
                        state_class="measurement")
        config = entity_config(sensor, ctx) | {"value_template": "{{ value_json.power }}"}
        out.append((layout.discovery("sensor", HUB_NODE, key(i)), orjson.dumps(config), True))
    out += initial_states(layout, HUB_NODE, entities)
    return out


def initial_states(layout: TopicLayout, node: str, entities: int
                   ) -> list[tuple[str, bytes, bool]]:
    return [(layout.state(node, key(i)), reading(i, -1 - i), True) for i in range(entities)]


def entity_id(i: int) -> str:
    return f"sensor.{HUB_NODE}_{key(i)}"


def last_states(messages: list[tuple[str, bytes, bool]], entities: int) -> dict[str, str]:
    """What the hub must show after the stream: ``str()`` of each topic's last ``power``."""
    last: dict[str, bytes] = {}
    for topic, payload, _retain in messages:
        last[topic] = payload
    topic_to_id = {topic: entity_id(i) for i, topic in
                   enumerate(t for t, _p, _r in messages[:entities])}
    return {topic_to_id[t]: str(orjson.loads(p)["power"]) for t, p in last.items()}
