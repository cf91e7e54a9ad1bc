"""A node agent's commands: a message on one of its command topics parsed by its entity (a
bare value, or ``{"id": ..., "value": ...}`` for a correlated outcome), its handler run as a task
of its own, and the outcome (``ok`` for a correlated command, ``error`` for every rejected one)
published on the node's command outcome topic.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from spark.core.agent.entities import Entity
from spark.core.errors import PayloadError
from spark.core.mqtt import Message, MqttClient
from spark.core.topics import TopicLayout

log = logging.getLogger("spark.core.agent.agent")  # the agent's log lines keep their name

CommandHandler = Callable[[Any], Awaitable[Any] | Any]


class CommandDispatch:
    """The command part of :class:`~spark.core.agent.agent.NodeAgent` (a mixin: the agent's
    ``__init__`` sets every attribute below)."""

    if TYPE_CHECKING:
        node_id: str
        layout: TopicLayout
        client: MqttClient | None
        entities: dict[str, Entity]
        commands_rejected: int
        _handlers: dict[str, CommandHandler]
        _tasks: set[asyncio.Task[Any]]

        def set_state(self, key: str, value: Any, attributes: dict[str, Any] | None = None,
                      force: bool = False) -> None: ...

    def _on_command(self, msg: Message) -> None:
        parsed = self.layout.parse_command(msg.topic)
        if parsed is None:
            return
        entity = self.entities.get(parsed.object_id)
        correlation: str | None = None
        raw = bytes(msg.payload)
        if raw[:1] == b"{":
            try:
                body = orjson.loads(raw)
                if isinstance(body, dict) and "value" in body:
                    correlation = str(body.get("id")) if body.get("id") is not None else None
                    raw = str(body["value"]).encode()
            except orjson.JSONDecodeError:
                pass
        try:
            if entity is None or not entity.commandable:
                raise PayloadError(f"no commandable entity {parsed.object_id!r} on {self.node_id}")
            value = entity.parse_command(raw)
        except PayloadError as exc:
            self._reject(parsed.object_id, correlation, str(exc), msg.payload)
            return
        task = asyncio.create_task(self._run_handler(entity, value, correlation),
                                   name=f"{self.node_id}-cmd-{entity.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reject(self, key: str, correlation: str | None, error: str,
                payload: bytes | bytearray) -> None:
        self.commands_rejected += 1
        if "commands_rejected" in self.entities:
            self.set_state("commands_rejected", self.commands_rejected)
        log.warning("%s: rejected command for %s (%r): %s", self.node_id, key, payload[:60], error)
        body = {"id": correlation, "status": "error", "entity": key, "error": error}
        if self.client is not None:
            self.client.publish(self.layout.command_outcome(self.node_id),
                                orjson.dumps(body), 1, False)

    async def _run_handler(self, entity: Entity, value: Any, correlation: str | None) -> None:
        handler = self._handlers.get(entity.key)
        try:
            if handler is None:
                raise PayloadError(f"{entity.key!r} has no command handler")
            result = handler(value)
            if inspect.isawaitable(result):
                await result
        except (PayloadError, ValueError) as exc:
            self._reject(entity.key, correlation, str(exc), str(value).encode())
            return
        except Exception as exc:
            log.exception("%s: command handler for %s failed", self.node_id, entity.key)
            self._reject(entity.key, correlation, f"internal error: {exc}", str(value).encode())
            return
        if correlation is not None and self.client is not None:
            body = {"id": correlation, "status": "ok", "entity": entity.key}
            self.client.publish(self.layout.command_outcome(self.node_id),
                                orjson.dumps(body), 1, False)
