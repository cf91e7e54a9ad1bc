"""One process per node id: find a live owner before connecting with the node's will.

An agent's will publishes ``offline`` on its availability topic, so connecting with it is
already a claim: a second process that connects (and later exits) marks the first one's
entities unavailable. Before an agent connects it therefore probes with a will-less
connection:

1. subscribe to the availability topics of the ids, and see their retained values (a loopback
   message on the same connection marks the end of what the broker had retained);
2. for each id whose retained value is ``online``, send the RPC ``ping`` every agent answers.

An answer means a live owner (the id is refused, naming the owner's host, pid and uptime). No
answer within ``timeout`` means a stale ``online`` left by a process that crashed (its will
fires only once the broker notices): the id is free. An id that is not ``online`` costs no wait,
so a normal start pays one connection round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from spark.core.config.mqtt import MqttConfig
from spark.core.errors import SparkError
from spark.core.mqtt import Message, MqttClient
from spark.core.rpc import RpcClient, RpcError
from spark.core.topics import ONLINE, TopicLayout

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.5  # s a live owner has to answer the ping
CONNECT_TIMEOUT = 10.0  # s to reach the broker before giving up the probe


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that answered for a node id."""

    node_id: str
    host: str | None = None
    pid: int | None = None
    uptime_s: float | None = None

    @classmethod
    def from_ping(cls, node_id: str, data: Any) -> Owner:
        data = data if isinstance(data, dict) else {}
        pid, uptime = data.get("pid"), data.get("uptime_s")
        return cls(node_id, str(data["host"])[:64] if data.get("host") else None,
                   pid if isinstance(pid, int) else None,
                   float(uptime) if isinstance(uptime, int | float) else None)

    def describe(self) -> str:
        where = []
        if self.host:
            where.append(f"host {self.host}")
        if self.pid is not None:
            where.append(f"pid {self.pid}")
        if self.uptime_s is not None:
            where.append(f"up {self.uptime_s:.0f} s")
        return f"{self.node_id!r} is already served by a running process" + (
            f" ({', '.join(where)})" if where else "")


class NodeIdTaken(SparkError):
    """Another live process owns the node id(s); this one must not connect as them."""

    def __init__(self, owners: Sequence[Owner]) -> None:
        self.owners = list(owners)
        super().__init__("; ".join(o.describe() for o in owners)
                         + ": not starting it again (stop that process first, or give this "
                         "node another id)")


async def live_owners(
    mqtt: MqttConfig, layout: TopicLayout, node_ids: Sequence[str], *,
    username: str | None = None, password: str | None = None,
    timeout: float = PROBE_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT,
) -> dict[str, Owner]:
    """The ids among ``node_ids`` that a live process answers for, with who answers.

    When the broker cannot be reached within ``connect_timeout`` nobody can be asked: the ids
    are reported free (the agent's own client then keeps retrying)."""
    ids = list(dict.fromkeys(node_ids))
    if not ids:
        return {}
    retained: dict[str, bytes] = {}
    marker = uuid.uuid4().hex.encode()
    synced = asyncio.Event()
    marker_topic = layout.owner_probe(ids[0])

    def on_availability(msg: Message) -> None:
        node = layout.parse_availability(msg.topic)
        if node is not None and msg.retain:
            retained[node] = bytes(msg.payload)

    def on_marker(msg: Message) -> None:
        if msg.payload == marker:
            synced.set()

    client = MqttClient(mqtt, f"probe-{ids[0]}", username=username, password=password)
    async with client:
        for node in ids:
            client.subscribe(layout.availability(node), on_availability, 1)
        client.subscribe(marker_topic, on_marker, 1)
        try:
            await client.wait_connected(connect_timeout)
        except TimeoutError:
            log.warning("%s: broker not reachable in %.0f s; cannot check for a running owner",
                        ", ".join(ids), connect_timeout)
            return {}
        client.publish(marker_topic, marker, 1, False)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await synced.wait()
        # Without the loopback (a broker that reorders) every id is asked.
        suspects = [n for n in ids if retained.get(n) == ONLINE.encode() or not synced.is_set()]
        rpc = RpcClient(client, layout, username or mqtt.username or ids[0])

        async def ask(node: str) -> Owner | None:
            try:
                return Owner.from_ping(node, await rpc.call(node, "ping", timeout=timeout))
            except RpcError:
                log.info("%s: retained 'online' but nobody answers: a stale claim, taking it",
                         node)
                return None

        answers = await asyncio.gather(*(ask(n) for n in suspects))
    return {o.node_id: o for o in answers if o is not None}
