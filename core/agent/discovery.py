"""Home Assistant discovery payloads for a node's entities, per entity or per device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spark.core import __version__
from spark.core.agent.entities import Entity
from spark.core.topics import OFFLINE, ONLINE, TopicLayout

ORIGIN = {
    "name": "Prime Spark",
    "sw_version": __version__,
    "support_url": "https://github.com/prime-spark/prime-spark",
}


def hub_identifier(hub_id: str) -> str:
    """The hub's device identifier; nodes on other machines name it as their ``via_device``."""
    return f"spark_hub_{hub_id}"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    identifier: str
    name: str
    model: str
    manufacturer: str = "Prime Spark"
    sw_version: str = __version__
    hw_version: str | None = None
    serial_number: str | None = None
    suggested_area: str | None = None
    via_device: str | None = None

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "identifiers": [self.identifier],
            "name": self.name,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "sw_version": self.sw_version,
        }
        for key in ("hw_version", "serial_number", "suggested_area", "via_device"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class DiscoveryContext:
    layout: TopicLayout
    node_id: str
    hub_id: str
    unique_prefix: str  # "spark_<site>_<node>" (core.agent.identity)
    device: DeviceInfo
    hub_availability: bool = False  # also gate on the hub's availability (opt-in)

    def availability(self) -> list[dict[str, str]]:
        """The node's own will topic; with ``hub_availability`` the hub's too (then HA needs
        both online: mode ``all``). By default a node's entities stay controllable from HA
        while the hub is down: commands go from HA through the broker to the node."""
        topics = [self.layout.availability(self.node_id)]
        if self.hub_availability and self.hub_id != self.node_id:
            topics.append(self.layout.availability(self.hub_id))
        return [
            {"topic": t, "payload_available": ONLINE, "payload_not_available": OFFLINE}
            for t in topics
        ]

    def availability_fields(self) -> dict[str, Any]:
        avail = self.availability()
        return {"availability": avail, "availability_mode": "all"} if len(avail) > 1 \
            else {"availability": avail}


def entity_name(name: str | None, device_name: str) -> str | None:
    """The entity's own name as HA shows it after the device's (``has_entity_name``): a name
    that repeats the device's name at its start loses it (device "Battery", entity "Battery
    voltage" -> "Voltage"); one equal to it becomes None (the entity is the device's main
    feature). Ids never depend on names, so renaming a device keeps every entity id."""
    if not name or not device_name.strip():
        return name
    words, device = name.split(), device_name.split()
    if [w.casefold() for w in words[: len(device)]] != [w.casefold() for w in device]:
        return name
    rest = " ".join(words[len(device):]).lstrip(" -:")
    return rest[:1].upper() + rest[1:] if rest else None


def _entity_body(entity: Entity, ctx: DiscoveryContext) -> dict[str, Any]:
    layout, node = ctx.layout, ctx.node_id
    body: dict[str, Any] = {
        "name": entity_name(entity.name, ctx.device.name),
        "unique_id": f"{ctx.unique_prefix}_{entity.key}",
        # object_id sets the entity id up to HA 2025.x; default_entity_id from 2025.10 on.
        "object_id": f"{node}_{entity.key}".replace("-", "_"),
        "default_entity_id": f"{entity.platform}.{node}_{entity.key}".replace("-", "_"),
        "qos": entity.qos,
    }
    state, command = layout.state(node, entity.key), layout.command(node, entity.key)
    if entity.platform == "image":
        body["image_topic"] = state
    elif entity.platform != "button" and entity.plain_topics:
        body["state_topic"] = state
    if entity.commandable:
        if entity.plain_topics:
            body["command_topic"] = command
        body["retain"] = False
    if entity.attributes:
        body["json_attributes_topic"] = layout.attributes(node, entity.key)
    for key in ("icon", "device_class", "entity_category"):
        value = getattr(entity, key)
        if value:
            body[key] = value
    if not entity.enabled_by_default:
        body["enabled_by_default"] = False
    body.update(entity.discovery_fields())
    body.update(entity.topic_fields(state, command))
    return body


def entity_config(entity: Entity, ctx: DiscoveryContext) -> dict[str, Any]:
    """Per-entity config for ``<prefix>/<platform>/<node>/<key>/config``."""
    body = _entity_body(entity, ctx)
    body.update(ctx.availability_fields())
    body["device"] = ctx.device.payload()
    body["origin"] = ORIGIN
    return body


def device_config(
    entities: list[Entity], ctx: DiscoveryContext, removed: dict[str, str] | None = None
) -> dict[str, Any]:
    """Device-based config for ``<prefix>/device/<node>/config`` (HA >= 2024.11).

    ``removed`` maps keys to platforms of components to delete: HA drops a component whose config
    holds only its platform.
    """
    cmps: dict[str, Any] = {}
    for entity in entities:
        body = _entity_body(entity, ctx)
        body["platform"] = entity.platform
        cmps[entity.key] = body
    for key, platform in (removed or {}).items():
        cmps.setdefault(key, {"platform": platform})
    return {
        "device": ctx.device.payload(),
        "origin": ORIGIN,
        **ctx.availability_fields(),
        "components": cmps,
    }


MIGRATE = b'{"migrate_discovery":true}'  # HA >= 2024.11's handshake (core.agent.reconcile)
