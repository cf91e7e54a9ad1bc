"""Keeping a node's discovery in step with what the broker retained for it, at every connect.

The broker flags a message retained only when it sends it for a new subscription, i.e. right
after each (re)connect, possibly before the agent's on-connect hook runs; so retained configs
under the node's id are collected always, and the hook takes them once its own marker has looped
back (:meth:`DiscoveryKeeper.read_back`). What to do with them is decided in
:mod:`spark.core.agent.reconcile` (identity, HA's ``migrate_discovery`` handshake, dropped
entities); this module carries it out on the node's link.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any, Protocol

from spark.core.agent.discovery import MIGRATE
from spark.core.agent.entities import Entity
from spark.core.agent.reconcile import MAX_RETAINED, Plan, log_plan, plan
from spark.core.agent.settings import AgentSettings
from spark.core.mqtt import Message, MqttClient
from spark.core.topics import TopicLayout

log = logging.getLogger(__name__)

READ_BACK_TIMEOUT = 5.0  # s to wait for the broker's retained configs before announcing
SETTLE_TIMEOUT = 120.0  # s a kind may take to declare the entities it has at start


class Host(Protocol):
    """What the keeper needs of its node agent."""

    node_id: str
    layout: TopicLayout
    settings: AgentSettings
    client: MqttClient | None
    entities: dict[str, Entity]

    @property
    def unique_prefix(self) -> str: ...

    def adopt_prefix(self, prefix: str) -> None: ...

    def mark_removed(self, markers: dict[str, str]) -> None: ...

    async def entities_settled(self) -> None: ...


class DiscoveryKeeper:
    def __init__(self, host: Host, identity_pinned: bool) -> None:
        self.host = host
        self.identity_pinned = identity_pinned  # else the first read-back may adopt a prefix
        self.migrating: set[str] = set()  # old discovery topics of a migrate handshake
        self._retained: dict[str, bytes] = {}
        self._done = asyncio.Event()
        self._marker = b""
        self._tasks: set[asyncio.Task[None]] = set()
        self._migration: asyncio.Task[None] | None = None

    def collect(self, msg: Message) -> bool:
        """Keep a retained discovery config for the next read-back; True when it was one."""
        if not msg.retain:
            return False
        if len(self._retained) < MAX_RETAINED:
            self._retained[msg.topic] = bytes(msg.payload)
        return True

    def on_marker(self, msg: Message) -> None:
        if self._marker and bytes(msg.payload) == self._marker:
            self._done.set()

    async def read_back(self) -> dict[str, bytes] | None:
        """The retained configs under our id: what arrived before our own marker looped back
        (the broker sends retained messages right after the SUBACK). None on a timeout."""
        host = self.host
        assert host.client is not None
        self._done.clear()
        self._marker = os.urandom(8).hex().encode()
        host.client.publish(host.layout.owner_probe(host.node_id), self._marker, 1, False)
        try:
            async with asyncio.timeout(READ_BACK_TIMEOUT):
                await self._done.wait()
        except TimeoutError:
            log.warning("%s: the broker did not echo our marker in %.0f s; announcing without "
                        "comparing with its retained discovery", host.node_id, READ_BACK_TIMEOUT)
            self._retained = {}
            return None
        got, self._retained = self._retained, {}
        return got

    def reconcile(self, retained: dict[str, bytes]) -> None:
        """Act on the plan: adopt, clear what is not ours, start the handshake (before the
        announce); dropped entities and the handshake's last step follow in tasks."""
        host = self.host
        client = host.client
        assert client is not None
        mode = host.settings.discovery_mode
        platforms = {k: e.platform for k, e in host.entities.items()}
        result = plan(host.layout, host.node_id, mode, platforms, host.unique_prefix, retained,
                      may_adopt=not self.identity_pinned)
        self.identity_pinned = True
        if result.empty:
            return
        log_plan(host.node_id, mode, result)
        if result.adopt:
            host.adopt_prefix(result.adopt)
        for topic in result.clear:
            client.publish(topic, b"", 1, True)
        if result.ghosts or result.removed or result.dropped:
            self._spawn(self._remove_dropped(result), "remove-dropped")
        self.migrating.update(result.migrate_from)
        for topic, payload in result.before:
            client.publish(topic, payload, 1, True)
        for topic in result.migrate_from:
            client.publish(topic, MIGRATE, 1, True)
        if result.migrate_from:
            if self._migration is not None:
                self._migration.cancel()
            self._migration = self._spawn(self._finish_migration(list(result.migrate_from)),
                                          "migrate-discovery")

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"{self.host.node_id}-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _remove_dropped(self, result: Plan) -> None:
        """Remove what the retained configs hold and the node no longer declares, once its
        entities are settled: per-entity configs cleared, device components sent as
        ``{"platform": ...}`` (HA deletes those; a component merely missing from a device
        config stays in HA), and their retained state and attributes cleared."""
        host = self.host
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await host.entities_settled()
        except TimeoutError:
            log.warning("%s: entities not settled in %.0f s; removing what is undeclared now",
                        host.node_id, SETTLE_TIMEOUT)
        client = host.client
        if client is None:
            return
        for topic, key in result.ghosts.items():
            if key not in host.entities:
                client.publish(topic, b"", 1, True)
        host.mark_removed({k: p for k, p in result.removed.items() if k not in host.entities})
        for key in result.dropped:
            if key not in host.entities:
                client.publish(host.layout.state(host.node_id, key), b"", 1, True)
                client.publish(host.layout.attributes(host.node_id, key), b"", 1, True)

    async def _finish_migration(self, topics: list[str]) -> None:
        """Step 3 of HA's handshake: once HA took the new configs, clear the old topics."""
        host = self.host
        await asyncio.sleep(host.settings.migrate_settle)
        client = host.client
        if client is None:
            return
        try:
            await asyncio.gather(*(client.publish_confirmed(t, b"", 1, True) for t in topics))
        except Exception:  # the link dropped: the next connect's read-back finds them again
            log.warning("%s: clearing %d old discovery topic(s) failed; retrying at the next "
                        "connect", host.node_id, len(topics))
            return
        finally:
            self.migrating.difference_update(topics)
        log.info("%s: discovery moved to %s mode; cleared %d old topic(s)", host.node_id,
                 host.settings.discovery_mode, len(topics))
