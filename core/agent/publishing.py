"""A node agent's discovery publication: its entities' configs (per entity, or one device
config), states and attributes, each published only when it changed (no discovery storm), the
announce (availability, configs, states), clearing a removed entity, and keeping the retained
discovery and availability under the node's id its own (a config someone else overwrote or
planted, an ``offline`` someone else published while the node serves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from spark.core.agent.discovery import DiscoveryContext, device_config, entity_config
from spark.core.agent.entities import Entity
from spark.core.agent.keeper import DiscoveryKeeper
from spark.core.agent.repair import RepairBudget
from spark.core.agent.settings import AgentSettings
from spark.core.errors import PayloadError
from spark.core.mqtt import Message, MqttClient
from spark.core.topics import ONLINE, TopicLayout

log = logging.getLogger("spark.core.agent.agent")  # the agent's log lines keep their name


@dataclass(slots=True)
class Published:
    config: bytes | None = None
    state: str | bytes | None = None
    attributes: bytes | None = None
    earlier: list[bytes] = field(default_factory=list)  # configs sent before: their echoes

    def set_config(self, payload: bytes) -> None:
        if self.config is not None:
            self.earlier = [*self.earlier[-3:], self.config]
        self.config = payload


class DiscoveryPublisher:
    """The publishing part of :class:`~spark.core.agent.agent.NodeAgent` (a mixin: the agent's
    ``__init__`` sets every attribute below)."""

    if TYPE_CHECKING:
        node_id: str
        layout: TopicLayout
        settings: AgentSettings
        client: MqttClient | None
        entities: dict[str, Entity]
        _published: dict[str, Published]
        _states: dict[str, Any]
        _attributes: dict[str, dict[str, Any]]
        _removed: dict[str, str]
        _keeper: DiscoveryKeeper
        _repairs: RepairBudget
        _leaving: bool

        def discovery_context(self) -> DiscoveryContext: ...

    def _pub(self, key: str) -> Published:
        pub = self._published.get(key)
        if pub is None:
            pub = self._published[key] = Published()
        return pub

    def _publish_config(self, entity: Entity, force: bool = False) -> None:
        if self.settings.discovery_mode == "device":
            self._publish_device_config(force)
            return
        payload = orjson.dumps(entity_config(entity, self.discovery_context()))
        pub = self._pub(entity.key)
        if not force and pub.config == payload:
            return  # unchanged retained config: no discovery storm
        pub.set_config(payload)
        assert self.client is not None
        self.client.publish(
            self.layout.discovery(entity.platform, self.node_id, entity.key), payload, 1, True
        )

    def _publish_device_config(self, force: bool = False) -> None:
        payload = orjson.dumps(
            device_config(list(self.entities.values()), self.discovery_context(), self._removed)
        )
        pub = self._pub("__device__")
        if not force and pub.config == payload:
            return
        pub.set_config(payload)
        assert self.client is not None
        self.client.publish(self.layout.device_discovery(self.node_id), payload, 1, True)

    def _publish_state(self, key: str, force: bool = False) -> None:
        if self.client is None or key not in self._states:
            return
        entity = self.entities[key]
        try:
            payload = entity.encode_state(self._states[key])
        except PayloadError as exc:
            log.error("%s: not publishing state of %s: %s", self.node_id, key, exc)
            return
        pub = self._pub(key)
        retain = entity.retain_state and getattr(entity, "retain", True)
        if force or pub.state != payload:
            pub.state = payload
            self.client.publish(self.layout.state(self.node_id, key), payload, entity.qos, retain)
        attrs = self._attributes.get(key)
        if entity.attributes and attrs is not None:
            body = orjson.dumps(attrs, option=orjson.OPT_NON_STR_KEYS)
            if force or pub.attributes != body:
                pub.attributes = body
                self.client.publish(self.layout.attributes(self.node_id, key), body, 1, retain)

    def _clear_entity(self, platform: str, key: str) -> None:
        assert self.client is not None
        self._published.pop(key, None)
        if self.settings.discovery_mode == "device":
            self._publish_device_config()
        else:
            self.client.publish(self.layout.discovery(platform, self.node_id, key), b"", 1, True)
        self.client.publish(self.layout.state(self.node_id, key), b"", 1, True)
        self.client.publish(self.layout.attributes(self.node_id, key), b"", 1, True)

    def announce(self, force: bool = True) -> None:
        """Availability, then every discovery config, then every state."""
        assert self.client is not None
        self.client.publish(self.layout.availability(self.node_id), ONLINE, 1, True)
        if self.settings.discovery_mode == "device":
            self._publish_device_config(force)
        else:
            for entity in self.entities.values():
                self._publish_config(entity, force)
        for key in list(self._states):
            self._publish_state(key, force=True)

    def _on_own_discovery(self, msg: Message) -> None:
        """Keep the discovery configs under our node id ours: clear the ones we do not own
        (stale, or planted by someone else), and put back a config of ours that someone
        overwrote or cleared (the whole payload is compared with what we published)."""
        if self.client is None:
            return
        parsed = self.layout.parse_discovery(msg.topic)
        if parsed is None:
            return
        if self._keeper.collect(msg):
            return  # retained: reconciled before the announce (core.agent.keeper)
        if msg.topic in self._keeper.migrating:
            return  # our own handshake on an old topic (cleared once it is done)
        if self.settings.discovery_mode == "device":
            key = "__device__" if parsed.is_device else None
        else:
            entity = None if parsed.is_device else self.entities.get(parsed.object_id or "")
            key = entity.key if entity is not None and entity.platform == parsed.component \
                else None
        if key is None:
            if msg.payload and self._repairs.allow(msg.topic):
                log.info("%s: removing discovery config %s that is not ours", self.node_id,
                         msg.topic)
                self.client.publish(msg.topic, b"", 1, True)
            return
        pub = self._published.get(key)
        if msg.retain or pub is None or pub.config is None or bytes(msg.payload) == pub.config \
                or bytes(msg.payload) in pub.earlier:
            # retained: what the broker held when we subscribed (our announce replaces it);
            # not announced yet (announce follows); or our own (an older one's echo)
            return
        if not self._repairs.allow(msg.topic):
            return
        log.warning("%s: the discovery config on %s was %s by someone else; publishing ours "
                    "again", self.node_id, msg.topic, "overwritten" if msg.payload else "cleared")
        self.client.publish(msg.topic, pub.config, 1, True)

    def _on_own_availability(self, msg: Message) -> None:
        """Someone else said we are offline while we serve (a duplicate that exited, a will
        of a lost connection delivered late): say ``online`` again."""
        if msg.retain or msg.payload == ONLINE.encode() or self._leaving \
                or self.client is None or self.layout.parse_availability(msg.topic) != self.node_id:
            return  # retained: what was there when we subscribed (our announce follows)
        if self.client.connected:
            log.warning("%s: %r was published on our availability topic while we run; "
                        "announcing online again", self.node_id, msg.payload[:20])
            self.client.publish(self.layout.availability(self.node_id), ONLINE, 1, True)

    def mark_removed(self, markers: dict[str, str]) -> None:
        """Components (key -> platform) the device config sends as removed from now on."""
        for key, platform in markers.items():
            self._removed.setdefault(key, platform)
        if markers and self.settings.discovery_mode == "device" and self.client is not None:
            self._publish_device_config()
