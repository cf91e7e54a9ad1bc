"""Helpers to run the hub and node agents in-process against the test broker."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from spark.app.config.models import SparkConfig
from spark.app.runtime import build_hub, make_agent
from spark.core.agent.agent import NodeAgent
from spark.core.mqtt import Message, MqttClient
from spark.hub.app import Hub

A = TypeVar("A", bound=NodeAgent | Hub)  # anything with node_id, run(ready) and stop()

FAST = (0.0, 0.05)  # HA re-announce delay in tests
STOP_WITHIN = 60.0  # an agent asked to stop that still runs after this is a hang: a failure


def task_stacks() -> str:
    """Every task of the running loop with its stack: what a hang waits on."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        out.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=12, file=out)
    return out.getvalue()


async def stopped(task: asyncio.Task[Any], what: str) -> None:
    """Await ``task`` (already asked to stop); if it still runs after ``STOP_WITHIN`` seconds,
    fail naming what every task waits on, and cancel it, so a hang is a failure, not a stall."""
    done, _ = await asyncio.wait({task}, timeout=STOP_WITHIN)
    if not done:
        stacks = task_stacks()
        task.cancel()
        await asyncio.wait({task}, timeout=10.0)
        raise AssertionError(f"{what} did not stop within {STOP_WITHIN:g}s; tasks:\n{stacks}")
    await task


@contextlib.asynccontextmanager
async def running_agent(agent: A, ready_within: float = 10.0) -> AsyncIterator[A]:
    """Run ``agent`` (a node or the hub) until the block ends; yields once it is connected."""
    ready = asyncio.Event()
    task = asyncio.create_task(agent.run(ready), name=f"test-{agent.node_id}")
    try:
        async with asyncio.timeout(ready_within):
            await ready.wait()
        yield agent
    finally:
        agent.stop()
        await stopped(task, f"agent {agent.node_id}")


@contextlib.asynccontextmanager
async def running_hub(cfg: SparkConfig, password: str | None) -> AsyncIterator[Hub]:
    async with running_agent(build_hub(cfg, password=password, announce_delay=FAST)) as hub:
        yield hub


@contextlib.asynccontextmanager
async def running_node(cfg: SparkConfig, node_id: str, password: str | None,
                       ready_within: float = 10.0) -> AsyncIterator[NodeAgent]:
    agent = make_agent(cfg, cfg.node(node_id), password, announce_delay=FAST)
    async with running_agent(agent, ready_within) as running:
        yield running


@dataclass
class Recorder:
    """Collects messages on some filters, as an observing client (the admin user)."""

    client: MqttClient
    messages: list[Message] = field(default_factory=list)

    def watch(self, topic_filter: str) -> None:
        self.client.subscribe(topic_filter, self.messages.append, 1)

    def on(self, topic: str) -> list[Message]:
        return [m for m in self.messages if m.topic == topic]

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.on(topic)]

    def last(self, topic: str) -> bytes | None:
        got = self.on(topic)
        return got[-1].payload if got else None


@contextlib.asynccontextmanager
async def recorder(cfg: SparkConfig, username: str, password: str, *filters: str
                   ) -> AsyncIterator[Recorder]:
    async with MqttClient(cfg.mqtt, f"rec-{username}", username=username,
                          password=password) as client:
        rec = Recorder(client)
        for f in filters:
            rec.watch(f)
        await client.wait_connected(10)
        yield rec


async def publish_as(cfg: SparkConfig, username: str, password: str,
                     messages: list[tuple[str, Any, bool]]) -> None:
    """Publish (topic, payload, retain) messages as ``username`` and wait for the acks."""
    async with MqttClient(cfg.mqtt, f"pub-{username}", username=username,
                          password=password) as client:
        for topic, payload, retain in messages:
            await client.publish_confirmed(topic, payload, 1, retain)
