"""What the panel and the REST API ask of the hub: entities by node, area or search; nodes,
bridges and the health of each part. Read-only; computed on demand from the hub's view
(:class:`~hub.view.HubView`) and what the config says the lab has (:class:`Site`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from spark.core.link import Health, LinkState
from spark.hub.entity import Device, EntityRecord
from spark.hub.view import HubView

_ORDER: dict[str, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def worst(statuses: list[Health]) -> Health:
    return max(statuses, key=_ORDER.__getitem__, default="healthy")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    online: bool | None  # None: configured here but never seen
    name: str
    model: str | None
    device_id: str | None
    entities: int
    unavailable: int


@dataclass(frozen=True, slots=True)
class BridgeInfo:
    sink: str
    link: str | None
    backlog: float | None
    oldest_age: float | None
    online: bool


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    kind: Literal["broker", "hub", "node", "bridge", "history", "component"]
    status: Health
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Site:
    """What the config says the lab has, besides what the hub has seen (app/runtime builds
    it): every node to expect, by id, with its kind; the bridge's node id and its sinks."""

    nodes: Mapping[str, str]
    bridge_node: str
    sinks: tuple[str, ...]


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class HubQueries:
    """The panel's and the API's questions, answered from the hub's view and the site."""

    def __init__(self, hub: HubView, site: Site) -> None:
        self.hub = hub
        self.site = site
        self.layout = hub.layout

    # ---- entities ---------------------------------------------------------------------
    def records(self) -> list[EntityRecord]:
        reg = self.hub.registry
        return list(reg.entities.values()) if reg is not None else []

    def get(self, entity_id: str) -> EntityRecord | None:
        reg = self.hub.registry
        return reg.get(entity_id) if reg is not None else None

    def device(self, device_id: str | None) -> Device | None:
        reg = self.hub.registry
        return reg.devices.get(device_id or "") if reg is not None else None

    def devices(self) -> list[Device]:
        reg = self.hub.registry
        return sorted(reg.devices.values(), key=lambda d: (d.name or d.id).lower()) \
            if reg is not None else []

    def node_of(self, record: EntityRecord) -> str | None:
        """The Prime Spark node whose availability the entity lists (None: third-party)."""
        found = None
        for avail in record.spec.availability:
            node = self.layout.parse_availability(avail.topic)
            if node is not None and node != self.hub.node_id:
                return node
            found = found or node
        return found

    def entity_of(self, node: str, key: str) -> EntityRecord | None:
        """A node's entity by its key (unique id ``spark_<site>_<node>_<key>``, or an earlier
        install's prefix the node kept: core.agent.identity)."""
        suffix = f"_{node}_{key}"
        for record in self.records():
            if (record.spec.unique_id or "").endswith(suffix) and self.node_of(record) == node:
                return record
        return None

    def area_of(self, record: EntityRecord) -> str | None:
        device = self.device(record.device_id)
        return device.suggested_area if device else None

    def describe(self, record: EntityRecord) -> dict[str, Any]:
        device = self.device(record.device_id)
        return {**record.as_dict(), "area": device.suggested_area if device else None,
                "device_name": device.name if device else None, "node": self.node_of(record),
                "has_image": record.image is not None}

    def areas(self) -> list[str]:
        return sorted({d.suggested_area for d in self.devices() if d.suggested_area})

    def entities(self, *, area: str | None = None, device_id: str | None = None,
                 platform: str | None = None, q: str | None = None) -> list[EntityRecord]:
        needle = (q or "").strip().lower()
        out = []
        for record in self.records():
            if device_id and record.device_id != device_id:
                continue
            if platform and record.platform != platform:
                continue
            if area and self.area_of(record) != area:
                continue
            if needle:
                device = self.device(record.device_id)
                text = f"{record.entity_id} {record.name or ''} {device.name if device else ''}"
                if needle not in text.lower():
                    continue
            out.append(record)
        return sorted(out, key=lambda r: r.entity_id)

    # ---- nodes and bridges ------------------------------------------------------------
    def nodes(self) -> list[NodeInfo]:
        by_node: dict[str, list[EntityRecord]] = {}
        for record in self.records():
            node = self.node_of(record)
            if node is not None:
                by_node.setdefault(node, []).append(record)
        seen = dict(self.hub.nodes_online)
        ids = list(dict.fromkeys([*seen, *self.site.nodes]))
        out = []
        for node in sorted(ids):
            records = by_node.get(node, [])
            device = self.device(records[0].device_id) if records else None
            out.append(NodeInfo(
                node, seen.get(node), (device.name if device and device.name else node),
                device.model if device else None, device.id if device else None, len(records),
                sum(1 for r in records if not r.available and not r.disabled_by_default)))
        return out

    def bridges(self) -> list[BridgeInfo]:
        node = self.site.bridge_node
        sinks = list(self.site.sinks)
        for record in self.records():
            uid = record.spec.unique_id or ""
            if uid.endswith("_link") and self.node_of(record) == node:
                sink = uid[: -len("_link")].rsplit(f"_{node}_", 1)[-1]
                if sink not in sinks:
                    sinks.append(sink)
        online = bool(self.hub.nodes_online.get(node))
        out = []
        for sink in sinks:
            link = self.entity_of(node, f"{sink}_link")
            backlog = self.entity_of(node, f"{sink}_backlog")
            age = self.entity_of(node, f"{sink}_oldest_age")
            out.append(BridgeInfo(
                sink, link.state if link and link.available else None,
                _number(backlog.state) if backlog else None,
                _number(age.state) if age else None, online))
        return out

    # ---- health -----------------------------------------------------------------------
    def health(self) -> list[Component]:
        hub = self.hub
        client = hub.client
        parts: list[Component] = []
        where = f"{hub.mqtt.host}:{hub.mqtt.port}"
        if client is not None and client.connected:
            parts.append(Component("broker", "broker", "healthy", f"connected to {where}"))
        else:
            state = client.state.value if client is not None else "not started"
            parts.append(Component("broker", "broker", "unhealthy", f"{where}: {state}"))
        reg = hub.registry
        if reg is None:
            parts.append(Component("hub", "hub", "unhealthy", "registry not started"))
        else:
            data = {"devices": len(reg.devices), "entities": len(reg.entities),
                    "messages": reg.stats.messages, "rejected": reg.stats.rejected,
                    "bad_topics": hub.layout.rejected.count}  # ids outside the grammar
            parts.append(Component("hub", "hub", "healthy",
                                   f"{len(reg.devices)} devices, {len(reg.entities)} entities",
                                   data))
        for node in self.nodes():
            if node.id == hub.node_id:
                continue
            if node.online is None:
                parts.append(Component(node.id, "node", "unhealthy", "never seen"))
            elif not node.online:
                parts.append(Component(node.id, "node", "unhealthy", "offline"))
            elif node.unavailable:
                parts.append(Component(node.id, "node", "degraded",
                                       f"{node.unavailable} of {node.entities} entities "
                                       "unavailable"))
            else:
                parts.append(Component(node.id, "node", "healthy",
                                       f"online, {node.entities} entities"))
        for bridge in self.bridges():
            status = LinkState.health_of(bridge.link)
            if not bridge.online:
                status = "unhealthy"
            detail = f"link {bridge.link or 'unknown'}"
            if bridge.backlog is not None:
                detail += f", backlog {bridge.backlog:g}"
            parts.append(Component(bridge.sink, "bridge", status, detail,
                                   {"backlog": bridge.backlog, "oldest_age": bridge.oldest_age}))
        rec = hub.recorder
        if rec is None:
            parts.append(Component("history", "history", "healthy", "recorder disabled"))
        else:
            snap = rec.snapshot()
            parts.append(Component("history", "history", rec.health(),  # type: ignore[arg-type]
                                   f"{snap['state']}, backlog {snap['backlog']}",
                                   {"backlog": snap["backlog"], "dropped": snap["dropped"]}))
        for comp in hub.supervisor.statuses():
            detail = comp.state if comp.error is None else f"{comp.state}; last death: {comp.error}"
            parts.append(Component(comp.name, "component",
                                   "healthy" if comp.healthy else "unhealthy", detail,
                                   {"restarts": comp.restarts, "since": comp.since}))
        return parts
