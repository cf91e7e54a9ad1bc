"""The base node agent. A node kind subclasses it, declares entities and handles commands.

Lifecycle per connection (one path for first connect and every reconnect):
  availability ``online`` (retained; the will sets ``offline``) -> discovery configs -> states.
The same announce runs again, after a random 1-5 s delay, when Home Assistant's status topic
turns ``online``. On clean shutdown ``offline`` is published before disconnecting.

This module is the agent's link and lifecycle (the client, the subscriptions, the work loop, the
owner check, going offline) and its entity API; publishing discovery and state is
:class:`~spark.core.agent.publishing.DiscoveryPublisher`'s, handling commands
:class:`~spark.core.agent.commands.CommandDispatch`'s, both mixed into :class:`NodeAgent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from spark.core.agent.commands import CommandDispatch, CommandHandler
from spark.core.agent.config import NodeConfigBase
from spark.core.agent.discovery import DeviceInfo, DiscoveryContext, hub_identifier
from spark.core.agent.entities import BinarySensor, Entity, Sensor
from spark.core.agent.hwid import hardware_id
from spark.core.agent.identity import IdentityStore, site_prefix
from spark.core.agent.keeper import DiscoveryKeeper
from spark.core.agent.ownership import PROBE_TIMEOUT, NodeIdTaken, Owner, live_owners
from spark.core.agent.publishing import DiscoveryPublisher, Published
from spark.core.agent.repair import RepairBudget
from spark.core.agent.settings import AgentSettings
from spark.core.mqtt import Message, MqttClient, Will
from spark.core.rpc import RpcServer
from spark.core.topics import OFFLINE, ONLINE, TopicLayout

log = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT", bound=NodeConfigBase)
ANNOUNCE_DELAY = (1.0, 5.0)  # s: random wait before re-announcing to HA that came online


@dataclass(slots=True)
class NodeContext(Generic[ConfigT]):
    """What an agent needs from the outside world; built in ``main``, passed down: the shared
    settings (broker, hub), the node's own config section and its broker password. A kind's
    other dependencies (backends, sources) are typed arguments of its agent class."""

    settings: AgentSettings
    node: ConfigT
    password: str | None = None
    announce_delay: tuple[float, float] = ANNOUNCE_DELAY
    owner_probe_timeout: float = PROBE_TIMEOUT  # s a live owner of the id has to answer

    @property
    def layout(self) -> TopicLayout:
        return self.settings.layout()


class NodeAgent(DiscoveryPublisher, CommandDispatch, Generic[ConfigT]):
    """Base class, generic over the node's config model (``NodeAgent[PowerNodeConfig]``; its
    section is ``self.cfg``). Subclasses set ``kind``/``model`` and implement
    :meth:`declare_entities`."""

    kind: ClassVar[str] = "node"
    model: ClassVar[str] = "Prime Spark node"

    def __init__(self, ctx: NodeContext[ConfigT]) -> None:
        self.ctx = ctx
        self.cfg: ConfigT = ctx.node
        self.settings = ctx.settings
        self.node_id = ctx.node.id
        self.layout = ctx.layout
        self.hub_id = ctx.settings.hub_id
        self.hwid = hardware_id(ctx.node.hardware_id)  # the device's serial number only
        self._identity = IdentityStore(ctx.settings.identity_file)
        stored = self._identity.get(self.node_id)
        self._prefix = stored or site_prefix(ctx.settings.site, self.node_id)
        self._keeper = DiscoveryKeeper(self, identity_pinned=stored is not None)
        self.started_at = datetime.now(UTC).replace(microsecond=0)
        self._t0 = time.monotonic()
        self.entities: dict[str, Entity] = {}
        self._handlers: dict[str, CommandHandler] = {}
        self._published: dict[str, Published] = {}
        self._repairs = RepairBudget(self.node_id)
        self._states: dict[str, Any] = {}
        self._attributes: dict[str, dict[str, Any]] = {}
        self._removed: dict[str, str] = {}  # key -> platform, for device-mode removal
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._announce_task: asyncio.Task[None] | None = None
        self.client: MqttClient | None = None
        self.rpc: RpcServer | None = None
        self.commands_rejected = 0
        self._owner_checked = False  # see check_owner
        self._leaving = False  # our own offline is on its way: do not contradict it

    # ---- to override ------------------------------------------------------------------
    def declare_entities(self) -> list[Entity]:
        """The node's entities (the framework adds its diagnostic ones)."""
        return []

    async def setup(self) -> None:
        """Open backends; runs before the first connect."""

    async def work(self) -> None:
        """The node's main loop (periodic reads). Runs until the agent stops."""
        await self._stop.wait()

    async def teardown(self) -> None:
        """Close backends."""

    async def attach(self, client: MqttClient) -> None:
        """Called once the client exists, before it connects (extra subscriptions go here)."""

    def device_info(self) -> DeviceInfo:
        is_hub = self.node_id == self.hub_id
        return DeviceInfo(
            identifier=hub_identifier(self.hub_id) if is_hub else self.unique_prefix,
            name=self.ctx.node.display_name(),
            model=self.model,
            serial_number=self.hwid,
            suggested_area=self.ctx.node.area,
            via_device=None if is_hub else hub_identifier(self.hub_id),
        )

    # ---- entity API -------------------------------------------------------------------
    @property
    def unique_prefix(self) -> str:
        """``spark_<site>_<node>``, or the prefix adopted from an earlier install (see
        core.agent.identity): never the hardware's, so a new board keeps every entity."""
        return self._prefix

    def discovery_context(self) -> DiscoveryContext:
        return DiscoveryContext(self.layout, self.node_id, self.hub_id, self.unique_prefix,
                                self.device_info(), self.settings.hub_availability)

    def add_entity(self, entity: Entity, handler: CommandHandler | None = None) -> None:
        if entity.key in self.entities:
            raise ValueError(f"{self.node_id}: duplicate entity key {entity.key!r}")
        self.entities[entity.key] = entity
        self._removed.pop(entity.key, None)
        if handler is not None:
            self._handlers[entity.key] = handler
        if self.client is not None and self.client.connected:
            self._publish_config(entity)
            self._publish_state(entity.key)

    def remove_entity(self, key: str) -> None:
        """Remove an entity now, including its retained config and state (no ghosts)."""
        entity = self.entities.pop(key, None)
        if entity is None:
            return
        self._handlers.pop(key, None)
        self._states.pop(key, None)
        self._removed[key] = entity.platform
        if self.client is not None:
            self._clear_entity(entity.platform, key)

    def on_command(self, key: str, handler: CommandHandler) -> None:
        self._handlers[key] = handler

    def state(self, key: str) -> Any:
        return self._states.get(key)

    def set_state(
        self, key: str, value: Any, attributes: dict[str, Any] | None = None, force: bool = False
    ) -> None:
        """Record and publish an entity's state (only when it changed, unless ``force``)."""
        entity = self.entities[key]
        if entity.platform in ("event", "button"):
            raise ValueError(f"use fire_event for {entity.platform} {key!r}")
        self._states[key] = value
        if attributes is not None:
            self._attributes[key] = attributes
        self._publish_state(key, force=force)

    def fire_event(self, key: str, event_type: str, **data: Any) -> None:
        entity = self.entities[key]
        payload = entity.encode_state({"event_type": event_type, **data})
        if self.client is not None:
            self.client.publish(self.layout.state(self.node_id, key), payload, entity.qos, False)

    # ---- incoming ---------------------------------------------------------------------
    def _on_ha_status(self, msg: Message) -> None:
        if msg.payload.strip().lower() != ONLINE.encode():
            return
        if self._announce_task is not None and not self._announce_task.done():
            return
        self._announce_task = asyncio.create_task(self._delayed_announce(),
                                                  name=f"{self.node_id}-reannounce")

    async def _delayed_announce(self) -> None:
        low, high = self.ctx.announce_delay
        await asyncio.sleep(random.uniform(low, high))
        if self.client is not None and self.client.connected:
            log.info("%s: Home Assistant came online; re-sending discovery and state",
                     self.node_id)
            self.announce(force=True)

    # ---- run --------------------------------------------------------------------------
    def _builtin_entities(self) -> list[Entity]:
        return [
            BinarySensor(key="connectivity", name="Connectivity", device_class="connectivity",
                         entity_category="diagnostic"),
            Sensor(key="started_at", name="Started", device_class="timestamp",
                   entity_category="diagnostic", icon="mdi:clock-start"),
            Sensor(key="commands_rejected", name="Commands rejected",
                   state_class="total_increasing", entity_category="diagnostic",
                   enabled_by_default=False),
        ]

    @property
    def mqtt_username(self) -> str | None:
        return self.ctx.node.username or (self.node_id if self.ctx.password else None)

    @property
    def rpc_caller(self) -> str:
        """The name this agent's requests carry: the broker account it logs in with (the ACL
        lets it publish requests under that name only), else its node id."""
        return self.mqtt_username or self.settings.mqtt.username or self.node_id

    def make_client(self) -> MqttClient:
        return MqttClient(
            self.settings.mqtt,
            self.node_id,
            will=Will(self.layout.availability(self.node_id), OFFLINE, qos=1, retain=True),
            username=self.mqtt_username,
            password=self.ctx.password,
        )

    async def check_owner(self) -> Owner | None:
        """The live process already serving this node id, if any (see core.agent.ownership).
        :meth:`run` calls it before connecting with the will unless it was called already."""
        owners = await live_owners(self.settings.mqtt, self.layout, [self.node_id],
                                   username=self.mqtt_username, password=self.ctx.password,
                                   timeout=self.ctx.owner_probe_timeout)
        self._owner_checked = True
        return owners.get(self.node_id)

    def stop(self) -> None:
        self._stop.set()

    async def run(self, ready: asyncio.Event | None = None) -> None:
        """Connect, announce, serve commands and run :meth:`work` until :meth:`stop`.

        Raises :class:`NodeIdTaken`, before connecting, when a live process serves the id."""
        if not self._owner_checked:
            owner = await self.check_owner()
            if owner is not None:
                raise NodeIdTaken([owner])
        for entity in [*self._builtin_entities(), *self.declare_entities()]:
            self.entities[entity.key] = entity
        self._states["connectivity"] = True
        self._states["started_at"] = self.started_at
        self._states["commands_rejected"] = 0
        await self.setup()
        try:
            async with self.make_client() as client:
                self.client = client
                self.rpc = RpcServer(client, self.layout, self.node_id)
                self.rpc.register("ping", self._rpc_ping)
                client.subscribe(self.layout.node_commands(self.node_id), self._on_command, 1)
                client.subscribe(self.layout.ha_status(), self._on_ha_status, 1)
                client.subscribe(self.layout.node_discovery(self.node_id),
                                 self._on_own_discovery, 1)
                client.subscribe(self.layout.device_discovery(self.node_id),
                                 self._on_own_discovery, 1)
                client.subscribe(self.layout.owner_probe(self.node_id),
                                 self._keeper.on_marker, 1)
                # the wildcard, not our exact topic: an exact filter would keep the hub's
                # registry from subscribing to it (and getting it retained) for its entities
                client.subscribe(self.layout.all_availability(), self._on_own_availability, 1)
                client.on_connect(self._on_connected)
                await self.attach(client)
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._work_guard(), name=f"{self.node_id}-work")
                        if ready is not None:
                            await client.wait_connected()
                            ready.set()
                        await self._stop.wait()
                        raise _Stop
                except* _Stop:
                    pass
                finally:
                    await self._go_offline()
        finally:
            await self.teardown()

    async def _work_guard(self) -> None:
        await self.work()
        await self._stop.wait()

    async def _on_connected(self) -> None:
        """Read back what the broker retained under our id, reconcile it (identity, mode
        switch, dropped entities: core.agent.reconcile), then announce."""
        retained = await self._keeper.read_back()
        if self._leaving:
            return  # stopped while reading back: our offline is out, never follow it online
        if retained is not None:
            self._keeper.reconcile(retained)
        self.announce(force=True)

    async def entities_settled(self) -> None:
        """Returns once the entities this node has at start are declared. A kind that adds
        entities as it finds its hardware (mounts, VPN peers) overrides it, so that a retained
        config is not taken for a dropped entity just because its entity is not added yet."""

    def adopt_prefix(self, prefix: str) -> None:
        """Use the unique-id prefix HA already knows this node by (core.agent.identity), and
        keep it in the identity file beside the config."""
        self._prefix = prefix
        self._identity.put(self.node_id, prefix)
        self._published.clear()  # every config changes: publish them all again

    async def _rpc_ping(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        return {"node": self.node_id, "kind": self.kind,
                "uptime_s": round(time.monotonic() - self._t0, 3),
                "host": socket.gethostname(), "pid": os.getpid()}

    async def _go_offline(self) -> None:
        """Cancel command tasks and publish the retained ``offline`` before disconnecting."""
        self._leaving = True
        for task in list(self._tasks):
            task.cancel()
        if self._announce_task is not None:
            self._announce_task.cancel()
        self._keeper.cancel()
        client = self.client
        if client is not None and client.connected:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await client.publish_confirmed(
                        self.layout.availability(self.node_id), OFFLINE, 1, True
                    )


class _Stop(Exception):
    """Internal: leaves the TaskGroup when the agent is asked to stop."""
