"""The hub process: registry + services + RPC on one MQTT connection, itself a device in HA.

The hub owns a small node agent (:class:`HubAgent`) for its own device: its availability topic
carries the will that every Prime Spark entity lists, its diagnostic entities, its RPC server.
Beside it, the registry fed by the discovery prefix and by every entity topic it learned of,
the services, the recorder, and the command sources app/runtime hands it (the Kafka cloud
source: ``cloud.commands`` -> MQTT commands through the hub's services; it needs the registry
and the hub's MQTT client, so it runs here rather than in the bridge process). The panel and
the REST API read the hub through :class:`~hub.view.HubView`, built around it by app/runtime.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.config import NodeConfigBase
from spark.core.agent.entities import BinarySensor, Entity, Sensor
from spark.core.config.mqtt import MqttConfig
from spark.core.events import EventBus, LlmActivity, NodeAvailability
from spark.core.messages.llm import LlmInferenceMessage
from spark.core.mqtt import Message, MqttClient
from spark.core.rpc import RpcServer
from spark.core.services import CommandSource, CommandSources, ServiceError
from spark.core.supervisor import Supervisor
from spark.core.topics import ONLINE, TopicLayout
from spark.hub.agent import ToolAgent
from spark.hub.ask import AskConfig, Assistant
from spark.hub.policy import Caller, Policy, PolicyConfig
from spark.hub.recorder.config import RecorderConfig
from spark.hub.registry import Registry, RegistryLimits
from spark.hub.services import Services
from spark.hub.templates import TemplateEngine

if TYPE_CHECKING:
    from spark.core.agent.ownership import Owner
    from spark.hub.llm.router import LlmRouter
    from spark.hub.llm.service import LlmService
    from spark.hub.recorder import Recorder

log = logging.getLogger(__name__)


class HubAgent(NodeAgent[NodeConfigBase]):
    """The hub's own device: diagnostic entities, availability, RPC. Its hooks run the hub."""

    kind: ClassVar[str] = "hub"
    model: ClassVar[str] = "Prime Spark hub"

    def __init__(self, ctx: NodeContext[NodeConfigBase], hub: Hub) -> None:
        super().__init__(ctx)
        self._hub = hub

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
            *llm_entities(self._hub.llm_router),
        ]

    async def attach(self, client: MqttClient) -> None:
        assert self.rpc is not None
        self._hub.attach(client, self.rpc)

    async def work(self) -> None:
        await self._hub.work()


class Hub:
    """Satisfies :class:`~hub.view.HubView`. ``agent`` is the context of the hub's own node
    (the shared settings: broker, request timeout; its id, MQTT login, announce delay);
    ``recorder`` the history section; ``cloud`` builds the command sources to run; ``policy``
    says which caller may call what (``hub.policy``); ``limits`` how many entities discovery may
    create (``hub.max_entities*``); ``ask`` how ``ask`` answers and what its agent may act on
    (``hub.ask``). App/runtime takes them from the whole config."""

    def __init__(self, agent: NodeContext[NodeConfigBase], recorder: RecorderConfig,
                 cloud: CommandSources | None = None, policy: PolicyConfig | None = None,
                 limits: RegistryLimits | None = None, ask: AskConfig | None = None) -> None:
        self.llm_router: LlmRouter | None = None  # run in work() (see attach_router)
        self.agent = HubAgent(agent, self)
        self.limits = limits or RegistryLimits()
        self.policy = Policy(policy, self.agent.rpc_caller)
        self.assistant = self._assistant(ask)  # ask / generate; the LLM from attach_llm
        self.bus = EventBus()
        self.supervisor = Supervisor()  # the process's components: health, restarts
        self.registry: Registry | None = None
        self.services: Services | None = None
        self.nodes_online: dict[str, bool] = {}
        self.cloud_sources: Mapping[str, CommandSource] = {}  # by name, see attach
        self._cloud = cloud
        self._attached: list[Callable[[MqttClient], None]] = []
        self.recorder: Recorder | None = None
        if recorder.enabled:  # SQLAlchemy loads only when history is kept
            from spark.hub.recorder import Recorder

            self.recorder = Recorder(recorder, self.bus, registry=lambda: self.registry)

    # ---- the hub's node -----------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self.agent.node_id

    @property
    def layout(self) -> TopicLayout:
        return self.agent.layout

    @property
    def mqtt(self) -> MqttConfig:
        return self.agent.settings.mqtt

    @property
    def client(self) -> MqttClient | None:
        return self.agent.client

    async def check_owner(self) -> Owner | None:
        return await self.agent.check_owner()

    def stop(self) -> None:
        self.supervisor.stop()
        self.agent.stop()

    def attach_llm(self, service: LlmService | None, config: AskConfig | None = None) -> None:
        """The LLM router (app/runtime builds it from the ``llm`` section) behind the ``ask``
        and ``generate`` RPC methods; None: both answer "no LLM backend configured"."""
        if config is not None:
            self.assistant = self._assistant(config)
        self.assistant.llm = service

    def _assistant(self, config: AskConfig | None) -> Assistant:
        """``ask`` with the tool agent, acting through this hub's registry and services."""
        config = config or AskConfig()
        return Assistant(self.policy, config, ToolAgent(config, self.policy, self._parts))

    def _parts(self) -> tuple[Registry | None, Services | None]:
        return self.registry, self.services

    def attach_router(self, router: LlmRouter) -> None:
        """The router of ``llm.backends`` (app/runtime builds it): run as component ``hub-llm``
        (probes, cache), fed the power strategy and the VPN state, its health as entities of the
        hub's device, and behind ``ask``/``generate`` and the REST API (:attr:`llm`); each
        change of its figures is an :class:`LlmActivity` on the event bus (the panel's
        routing page)."""
        self.llm_router = router
        router.on_activity = lambda: self.bus.emit(LlmActivity(time.time()))
        self.attach_llm(router)

    @property
    def llm(self) -> LlmService | None:
        return self.assistant.llm

    def when_attached(self, callback: Callable[[MqttClient], None]) -> None:
        if self.client is not None:
            callback(self.client)
        else:
            self._attached.append(callback)

    def publish_inference(self, msg: LlmInferenceMessage) -> None:
        """The LLM router's ``on_result``: one record per answer on ``<base>/<hub>/inference``
        (QoS 1, not retained; the client queues it while offline), for the cloud bridge."""
        if self.client is None:
            log.warning("LLM inference %s not recorded: the hub is not connected yet", msg.id)
            return
        self.client.publish(self.layout.inference(self.node_id), msg.to_payload(), qos=1)

    # ---- wiring -------------------------------------------------------------------------
    def attach(self, client: MqttClient, rpc: RpcServer) -> None:
        """The client exists, not yet connected: registry, services, subscriptions, RPC."""
        self.registry = Registry(
            self.layout, self.bus,
            subscribe=lambda topics: client.subscribe_many(topics, 1),
            unsubscribe=client.unsubscribe_many,
            templates=TemplateEngine(),
            limits=self.limits,
        )
        self.services = Services(self.registry, self.bus, client.publish, self.layout,
                                 self.policy)
        client.set_default_handler(self.registry.on_message)
        client.subscribe(self.layout.all_discovery(), self.registry.on_discovery, 1)
        client.subscribe(self.layout.all_availability(), self._on_node_availability, 1)
        rpc.register("call_service", self._rpc_call_service)
        rpc.register("get_state", self._rpc_get_state)
        rpc.register("list_entities", self._rpc_list_entities)
        rpc.register("list_devices", self._rpc_list_devices)
        rpc.register("ask", lambda params, caller: self.assistant.rpc_ask(params, caller))
        rpc.register("generate",
                     lambda params, caller: self.assistant.rpc_generate(params, caller))
        if self.llm_router is not None:
            from spark.hub.llm.signals import watch

            watch(client, self.layout, self.llm_router.config, self.llm_router)
        for callback in self._attached:
            callback(client)
        self._attached.clear()
        if self._cloud is not None:
            self.cloud_sources = self._cloud(self.services, client.publish_confirmed)

    def _on_node_availability(self, msg: Message) -> None:
        node = self.layout.parse_availability(msg.topic)  # None: an id outside the grammar
        online = msg.payload == ONLINE.encode()
        if node is not None and self.nodes_online.get(node) != online:
            self.nodes_online[node] = online
            self.bus.emit(NodeAvailability(time.time(), node, online))
        if self.registry is not None:
            self.registry.on_message(msg)  # entities listing this topic in their availability

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Run the hub until :meth:`stop`; the recorder (when enabled) runs beside it as task
        ``hub-recorder`` and, once the hub has stopped, writes what is still pending before
        this returns. Raises ``NodeIdTaken``, before connecting, when a live process serves
        the hub's id."""
        side = []
        if self.recorder is not None:
            # it runs once: a death is logged at once and leaves /health unhealthy
            side.append(asyncio.create_task(
                self.supervisor.run("hub-recorder", self.recorder.run, persistent=False,
                                    restart=False), name="hub-recorder"))
        try:
            await self.agent.run(ready)
        finally:
            if self.recorder is not None:
                self.recorder.stop()
            if side:
                await asyncio.wait(side)
            for task in side:
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def work(self) -> None:
        """Housekeeping, and each command source as component ``hub-cloud-<name>`` (each one
        supervises its own link: a Kafka outage never stops the hub). Each is a component of
        :attr:`supervisor`: one that dies is logged at once, makes ``/health`` unhealthy and
        is restarted after a backoff, while the others go on."""
        run = self.supervisor.run
        async with asyncio.TaskGroup() as tg:
            tg.create_task(run("hub-housekeeping", self._housekeeping), name="hub-housekeeping")
            if self.llm_router is not None:
                tg.create_task(run("hub-llm", self._run_llm), name="hub-llm")
            for name, source in self.cloud_sources.items():
                tg.create_task(run(f"hub-cloud-{name}", source.run), name=f"hub-cloud-{name}")

    async def _housekeeping(self) -> None:
        while True:
            self._publish_stats()
            if self.registry is not None:
                self.registry.expire()
            await asyncio.sleep(10.0)

    async def _run_llm(self) -> None:
        """The router (its probes, its cache) and its health entities, refreshed as often as
        it probes (at most every 10 s)."""
        router = self.llm_router
        assert router is not None
        async with router:
            while True:
                publish_llm(self.agent, router)
                await asyncio.sleep(min(router.config.probe_interval, 10.0))

    def _publish_stats(self) -> None:
        reg = self.registry
        if reg is None:
            return
        agent = self.agent
        agent.set_state("devices", len(reg.devices))
        agent.set_state("entities", len(reg.entities))
        agent.set_state("unavailable", sum(1 for e in reg.entities.values()
                                              if not e.available and not e.disabled_by_default))
        agent.set_state("messages", reg.stats.messages)
        agent.set_state("rejected", reg.stats.rejected)
        agent.set_state("entities_refused", reg.stats.entities_refused,
                        {"limit_reached": reg.stats.limit_reached,
                         "max_entities": reg.limits.max_entities,
                         "max_entities_per_publisher": reg.limits.max_entities_per_publisher,
                         "max_discovery_bytes": reg.limits.max_discovery_bytes,
                         "discovery_bytes": reg.discovery_bytes,
                         "max_picture_bytes": reg.pictures.limit,
                         "picture_bytes": reg.pictures.held,
                         "pictures_dropped": reg.pictures.evicted})
        disabled = reg.stats.disabled
        agent.set_state("entities_disabled", len(disabled),
                        {"entities": dict(list(disabled.items())[:20])})

    # ---- RPC: ``caller`` is the broker account in the request topic (see core.rpc) ------
    async def _rpc_call_service(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        assert self.services is not None
        try:
            return await self.services.call(
                str(params.get("service", "")), str(params.get("entity_id", "")),
                dict(params.get("data") or {}), wait=bool(params.get("wait", True)),
                timeout=_bounded(params.get("timeout", self.agent.settings.request_timeout)),
                caller=Caller.account(caller),
            )
        except ServiceError:
            raise
        except (TypeError, ValueError) as exc:
            raise ServiceError(f"bad call_service parameters: {exc}") from None

    async def _rpc_get_state(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        assert self.registry is not None
        self.policy.check_method(Caller.account(caller), "get_state")
        record = self.registry.get(str(params.get("entity_id", "")))
        if record is None:
            raise ServiceError(f"unknown entity {params.get('entity_id')!r}")
        return record.as_dict()

    async def _rpc_list_entities(self, params: dict[str, Any], caller: str
                                 ) -> list[dict[str, Any]]:
        assert self.registry is not None
        self.policy.check_method(Caller.account(caller), "list_entities")
        return [e.as_dict() for e in self.registry.entities.values()]

    async def _rpc_list_devices(self, params: dict[str, Any], caller: str
                                ) -> list[dict[str, Any]]:
        """Devices with name, area, maker and their entity ids (the voice grammar's device and
        area names come from here)."""
        assert self.registry is not None
        self.policy.check_method(Caller.account(caller), "list_devices")
        return [d.as_dict() for d in self.registry.devices.values()]


def _llm_key(backend: str, what: str) -> str:
    return f"llm_{backend.replace('-', '_')}_{what}"


def llm_entities(router: LlmRouter | None) -> list[Entity]:
    """Per backend a connectivity binary_sensor and a probe-latency sensor; the tier that
    served the last request."""
    if router is None:
        return []
    out: list[Entity] = []
    for b in router.config.backends:
        out += [BinarySensor(key=_llm_key(b.name, "connected"), name=f"LLM {b.name}",
                             device_class="connectivity", entity_category="diagnostic"),
                Sensor(key=_llm_key(b.name, "latency"), name=f"LLM {b.name} latency",
                       icon="mdi:timer-outline", unit="ms", state_class="measurement",
                       suggested_display_precision=0, entity_category="diagnostic")]
    out.append(Sensor(key="llm_tier", name="LLM last tier", icon="mdi:router-network",
                      device_class="enum", options=["edge", "cloud", "api"],
                      entity_category="diagnostic"))
    return out


def publish_llm(agent: HubAgent, router: LlmRouter) -> None:
    for b in router.stats().backends:
        agent.set_state(_llm_key(b.name, "connected"), b.healthy)
        agent.set_state(_llm_key(b.name, "latency"),
                        None if b.probe_ms is None else round(b.probe_ms, 1))
    agent.set_state("llm_tier", router.last_tier)


def _bounded(timeout: Any) -> float:
    """A caller's timeout, kept between 0.1 and 60 s (a request cannot park a waiter for
    ever)."""
    value = float(timeout)
    return min(max(value, 0.1), 60.0) if math.isfinite(value) else 60.0
