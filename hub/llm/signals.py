"""The routing signals over MQTT: the power node's retained strategy and the system node's
WireGuard entity, fed to the router (:meth:`LlmRouter.set_strategy`, :meth:`LlmRouter.set_vpn`).

The power state is read for its ``strategy`` only (the hub does not import the power node:
siblings talk over MQTT); the VPN entity is a Home Assistant binary_sensor (``ON``/``OFF``;
anything else: unknown, which the router treats as up). A bad payload is logged and dropped.
"""

from __future__ import annotations

import logging

import orjson

from spark.core.messages.llm import STRATEGIES
from spark.core.mqtt.client import Message, MqttClient
from spark.core.topics import TopicLayout
from spark.hub.llm.config import LlmConfig
from spark.hub.llm.router import LlmRouter

log = logging.getLogger(__name__)


def strategy_from_power(payload: bytes | bytearray) -> str | None:
    """The ``strategy`` of a power-state message, or None (malformed, unknown strategy)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    strategy = body.get("strategy") if isinstance(body, dict) else None
    return strategy if strategy in STRATEGIES else None


def vpn_from_state(payload: bytes | bytearray) -> bool | None:
    text = payload.decode("utf-8", "replace").strip().upper()
    return {"ON": True, "OFF": False}.get(text)


def watch(client: MqttClient, topics: TopicLayout, config: LlmConfig, router: LlmRouter) -> None:
    """Subscribe the router to its signals (retained: the current values arrive at once)."""
    if config.power_node is not None:
        def on_power(msg: Message) -> None:
            strategy = strategy_from_power(msg.payload)
            if strategy is None:
                log.warning("%s: no valid strategy in %r; routing unchanged", msg.topic,
                            msg.payload[:200])
                return
            router.set_strategy(strategy)
        client.subscribe(topics.power_state(config.power_node), on_power)
    if config.vpn_entity is not None:
        node, _, entity = config.vpn_entity.partition("/")

        def on_vpn(msg: Message) -> None:
            router.set_vpn(vpn_from_state(msg.payload))
        client.subscribe(topics.state(node, entity), on_vpn)
