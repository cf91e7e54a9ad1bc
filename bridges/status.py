"""The bridge as a hub node: outbox backlog, age and link state as entities and metrics.

Per sink ``<s>``: ``sensor.<node>_<s>_backlog`` (records waiting), ``<s>_backlog_bytes``,
``<s>_oldest_age`` (seconds the oldest waiting record has waited), ``<s>_link`` (idle /
connecting / up / backoff / closed) and ``<s>_delivered``; for the log: ``outbox_bytes`` and
``outbox_dropped`` (records dropped by the size / age bounds since start). The same figures go
out every interval as a :class:`TelemetryMessage` on ``<base>/<node>/telemetry``, which the
bridge itself forwards to the sinks as ``device_metrics`` (``outbox_backlog``...).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from spark.bridges.config import BridgeSettings
from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.config import NodeConfigBase
from spark.core.agent.entities import Entity, Sensor
from spark.core.link import LinkState
from spark.core.messages.telemetry import TelemetryMessage

log = logging.getLogger(__name__)

Snapshot = Callable[[], dict[str, dict[str, Any]]]  # {"outbox": {...}, "<sink>": {...}}
LINK_STATES = [s.value for s in LinkState]


class BridgeNodeConfig(NodeConfigBase):
    kind: Literal["bridge"] = "bridge"
    state_interval: float = Field(10.0, gt=0, description="Seconds between status updates.")


class BridgeNode(NodeAgent):
    kind: ClassVar[str] = "bridge"
    model: ClassVar[str] = "Prime Spark cloud bridge"

    def __init__(self, ctx: NodeContext, sinks: list[str], snapshot: Snapshot) -> None:
        super().__init__(ctx)
        self.sinks = sinks
        self.snapshot = snapshot

    def declare_entities(self) -> list[Entity]:
        out: list[Entity] = [
            Sensor(key="outbox_bytes", name="Outbox size", unit="B", device_class="data_size",
                   state_class="measurement", entity_category="diagnostic"),
            Sensor(key="outbox_dropped", name="Outbox dropped", unit="records",
                   state_class="total_increasing", entity_category="diagnostic"),
        ]
        for s in self.sinks:
            title = s.replace("_", " ").title()
            out += [
                Sensor(key=f"{s}_backlog", name=f"{title} backlog", unit="records",
                       state_class="measurement", icon="mdi:tray-full"),
                Sensor(key=f"{s}_backlog_bytes", name=f"{title} backlog size", unit="B",
                       device_class="data_size", state_class="measurement"),
                Sensor(key=f"{s}_oldest_age", name=f"{title} oldest waiting", unit="s",
                       device_class="duration", state_class="measurement"),
                Sensor(key=f"{s}_link", name=f"{title} link", device_class="enum",
                       options=LINK_STATES),
                Sensor(key=f"{s}_delivered", name=f"{title} delivered", unit="records",
                       state_class="total_increasing"),
            ]
        return out

    async def work(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:
                log.exception("bridge: status update failed")
            await asyncio.sleep(self.ctx.node.state_interval)

    def refresh(self) -> dict[str, float]:
        """Publish the current figures as states and as one telemetry message."""
        snap = self.snapshot()
        outbox = snap.get("outbox", {})
        readings: dict[str, float] = {}
        for key in ("bytes", "dropped"):
            if key in outbox:
                self.set_state(f"outbox_{key}", outbox[key])
                readings[f"outbox_{key}"] = outbox[key]
        for s in self.sinks:
            fig = snap.get(s, {})
            for key in ("backlog", "backlog_bytes", "oldest_age", "delivered"):
                if key in fig:
                    self.set_state(f"{s}_{key}", fig[key])
                    readings[f"{s}_{key}"] = fig[key]
            if "link" in fig:
                self.set_state(f"{s}_link", fig["link"])
        if self.client is not None and readings:
            msg = TelemetryMessage.from_readings(self.node_id, readings)
            self.client.publish(self.layout.telemetry(self.node_id), msg.to_payload(), 0, False)
        return readings


def make_status_node(cfg: BridgeSettings, sinks: list[str], snapshot: Snapshot,
                     password: str | None) -> BridgeNode:
    username = cfg.mqtt.username or cfg.hub_id
    node = BridgeNodeConfig.model_validate({
        "id": cfg.bridges.node_id, "name": "Cloud bridge",
        "username": username if password else None,
        "state_interval": cfg.bridges.status_interval})
    return BridgeNode(NodeContext(cfg.agent, node, password=password), sinks, snapshot)
