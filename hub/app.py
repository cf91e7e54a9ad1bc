"""The hub process: registry + services + RPC on one MQTT connection, itself a device in HA.

The hub is a node agent (its availability topic carries the will that every Prime Spark entity
lists), plus the registry fed by the discovery prefix and by every entity topic it learned of.
When ``bridges.sinks`` names a ``kafka`` sink with ``source.enabled``, the hub also runs its
cloud source (``cloud.commands`` -> MQTT commands through the hub's services,
``models.updates`` -> a retained announcement): it needs the registry and the hub's MQTT
client, so it lives here rather than in the bridge process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar

from spark.app.config.models import SparkConfig
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.config import NodeConfigBase
from spark.core.agent.entities import Entity, Sensor
from spark.core.events import EventBus, NodeAvailability
from spark.core.mqtt import Message, MqttClient
from spark.core.topics import ONLINE
from spark.hub.registry import Registry, RegistryLimits
from spark.hub.services import ServiceError, Services
from spark.hub.templates import TemplateEngine

if TYPE_CHECKING:
    from spark.bridges.sinks.kafka.source import CloudCommandSource
    from spark.hub.recorder import Recorder
    from spark.ui.server import WebServer

log = logging.getLogger(__name__)


def hub_node_config(config: SparkConfig) -> NodeConfigBase:
    return NodeConfigBase(id=config.hub.id, name=config.hub.name, username=config.mqtt.username)


class Hub(NodeAgent):
    kind: ClassVar[str] = "hub"
    model: ClassVar[str] = "Prime Spark hub"

    def __init__(self, config: SparkConfig, password: str | None = None,
                 announce_delay: tuple[float, float] = (1.0, 5.0), web: bool = False) -> None:
        super().__init__(NodeContext(config.agent_settings(), hub_node_config(config),
                                     password=password, announce_delay=announce_delay))
        self.config = config
        self.bus = EventBus()
        self.registry: Registry | None = None
        self.services: Services | None = None
        self.nodes_online: dict[str, bool] = {}
        self.cloud_sources: dict[str, CloudCommandSource] = {}  # by sink name, see attach
        self.recorder: Recorder | None = None
        if config.recorder.enabled:  # SQLAlchemy loads only when history is kept
            from spark.hub.recorder import Recorder

            self.recorder = Recorder(config.recorder, self.bus, registry=lambda: self.registry)
        # The panel + REST API (ui.server.WebServer), when asked for (`spark hub`, `spark up`).
        self.web: WebServer | None = None
        if web and config.ui.enabled:
            from spark.ui.server import WebServer

            self.web = WebServer(self, config.ui)

    def declare_entities(self) -> list[Entity]:
        return [
            Sensor(key="devices", name="Devices", icon="mdi:devices", state_class="measurement",
                   entity_category="diagnostic"),
            Sensor(key="entities", name="Entities", icon="mdi:shape", state_class="measurement",
                   entity_category="diagnostic"),
            Sensor(key="unavailable", name="Unavailable entities", icon="mdi:alert-circle",
                   state_class="measurement", entity_category="diagnostic"),
            Sensor(key="messages", name="Messages processed", icon="mdi:message-processing",
                   state_class="total_increasing", entity_category="diagnostic"),
            Sensor(key="rejected", name="Payloads rejected", icon="mdi:message-alert",
                   state_class="total_increasing", entity_category="diagnostic"),
            Sensor(key="entities_refused", name="Entities refused", icon="mdi:database-alert",
                   state_class="total_increasing", entity_category="diagnostic",
                   attributes=True),
            Sensor(key="entities_disabled", name="Entities disabled", icon="mdi:timer-alert",
                   state_class="measurement", entity_category="diagnostic", attributes=True),
        ]

    async def attach(self, client: MqttClient) -> None:
        self.registry = Registry(
            self.layout, self.bus,
            subscribe=lambda topics: client.subscribe_many(topics, 1),
            unsubscribe=client.unsubscribe_many,
            templates=TemplateEngine(),
            limits=RegistryLimits(self.config.hub.max_entities,
                                  self.config.hub.max_entities_per_publisher),
        )
        self.services = Services(self.registry, self.bus, client.publish, self.layout)
        client.set_default_handler(self.registry.on_message)
        client.subscribe(self.layout.all_discovery(), self.registry.on_discovery, 1)
        client.subscribe(self.layout.all_availability(), self._on_node_availability, 1)
        assert self.rpc is not None
        self.rpc.register("call_service", self._rpc_call_service)
        self.rpc.register("get_state", self._rpc_get_state)
        self.rpc.register("list_entities", self._rpc_list_entities)
        self.rpc.register("list_devices", self._rpc_list_devices)
        if self.web is not None:
            self.web.attach(client)
        self.cloud_sources = self._make_cloud_sources(client)

    def _make_cloud_sources(self, client: MqttClient) -> dict[str, CloudCommandSource]:
        """One Kafka cloud source per ``kafka`` sink with ``source.enabled``, by sink name."""
        bridges = self.config.bridges
        names = {id(sink): name for name, sink in zip(bridges.sink_names(), bridges.sinks,
                                                       strict=True)}
        if not any(isinstance(sink, KafkaSinkConfig) and sink.source.enabled
                   for sink in bridges.sinks):
            return {}
        try:  # confluent-kafka loads only when a source runs
            from spark.bridges.sinks.kafka.source import cloud_sources
        except ImportError as exc:
            log.error("hub: Kafka cloud source unavailable, cloud commands are not read: %s",
                      exc)
            return {}
        assert self.services is not None
        sources = cloud_sources(self.config, self.services, client.publish_confirmed,
                                self.layout, self.node_id)
        return {names[id(src.config)]: src for src in sources}

    def _on_node_availability(self, msg: Message) -> None:
        node = self.layout.parse_availability(msg.topic)
        if node is None:
            return
        online = msg.payload == ONLINE.encode()
        if self.nodes_online.get(node) != online:
            self.nodes_online[node] = online
            self.bus.emit(NodeAvailability(time.time(), node, online))
        if self.registry is not None:
            self.registry.on_message(msg)  # entities listing this topic in their availability

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run the hub; the recorder (when enabled) runs beside it as task ``hub-recorder``
        and, once the hub has stopped, writes what is still pending before this returns; the
        web server (when enabled) runs as task ``hub-web`` and stops with the hub."""
        side = []
        if self.recorder is not None:
            side.append(asyncio.create_task(self.recorder.run(), name="hub-recorder"))
        if self.web is not None:
            side.append(asyncio.create_task(self.web.run(), name="hub-web"))
        try:
            await super().run(ready)
        finally:
            if self.web is not None:
                self.web.stop()
            if self.recorder is not None:
                self.recorder.stop()
            if side:
                await asyncio.wait(side)
            for task in side:
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def work(self) -> None:
        """Housekeeping, and each Kafka cloud source as task ``hub-cloud-<sink>`` (each one
        supervises its own link: a Kafka outage never stops the hub)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._housekeeping(), name="hub-housekeeping")
            for name, source in self.cloud_sources.items():
                tg.create_task(source.run(), name=f"hub-cloud-{name}")

    async def _housekeeping(self) -> None:
        while True:
            self._publish_stats()
            if self.registry is not None:
                self.registry.expire()
            await asyncio.sleep(10.0)

    def _publish_stats(self) -> None:
        reg = self.registry
        if reg is None:
            return
        self.set_state("devices", len(reg.devices))
        self.set_state("entities", len(reg.entities))
        self.set_state("unavailable", sum(1 for e in reg.entities.values() if not e.available))
        self.set_state("messages", reg.stats.messages)
        self.set_state("rejected", reg.stats.rejected)
        self.set_state("entities_refused", reg.stats.entities_refused,
                       {"limit_reached": reg.stats.limit_reached,
                        "max_entities": reg.limits.max_entities,
                        "max_entities_per_publisher": reg.limits.max_entities_per_publisher})
        disabled = reg.stats.disabled
        self.set_state("entities_disabled", len(disabled),
                       {"entities": dict(list(disabled.items())[:20])})

    # ---- RPC --------------------------------------------------------------------------
    async def _rpc_call_service(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.services is not None
        try:
            return await self.services.call(
                str(params.get("service", "")), str(params.get("entity_id", "")),
                dict(params.get("data") or {}), wait=bool(params.get("wait", True)),
                timeout=float(params.get("timeout", self.config.hub.request_timeout)),
            )
        except ServiceError:
            raise
        except (TypeError, ValueError) as exc:
            raise ServiceError(f"bad call_service parameters: {exc}") from None

    async def _rpc_get_state(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.registry is not None
        record = self.registry.get(str(params.get("entity_id", "")))
        if record is None:
            raise ServiceError(f"unknown entity {params.get('entity_id')!r}")
        return record.as_dict()

    async def _rpc_list_entities(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.registry is not None
        return [e.as_dict() for e in self.registry.entities.values()]

    async def _rpc_list_devices(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Devices with name, area, maker and their entity ids (the voice grammar's device and
        area names come from here)."""
        assert self.registry is not None
        return [d.as_dict() for d in self.registry.devices.values()]
