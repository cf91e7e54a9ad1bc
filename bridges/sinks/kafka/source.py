"""Cloud -> edge: ``cloud.commands`` become MQTT commands, ``models.updates`` a retained
announcement for the nodes.

A command is parsed (:class:`CloudCommand`), checked (fresh, allowed by ``source.allow_*``,
entity known to the hub registry and available), turned into the entity's command by
``Services.build`` (the validation ``Services.call`` uses) and published with
``publish_confirmed``. Its outcome goes to ``cloud.command.results``; rejections are also logged
and reported as ``analytics.events`` records. The Kafka offset of a message is committed only
after that: the MQTT publish was acknowledged by the broker and the result was delivered. A
crash in between replays the message; within one process the command id is remembered so the
replay is answered ("duplicate") without being executed twice.

Partitions are assigned by hand, starting from the group's committed offsets (or
``start_from`` when there are none): no group join, which takes ~23 s on Tansu.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage

from bridges.records import EventRecord
from bridges.sinks.kafka.client import (
    IDEMPOTENCY_HEADER,
    DeliveryTally,
    consumer_config,
    ensure_topics,
    producer_config,
    record_message,
    translate,
)
from bridges.sinks.kafka.config import KafkaSinkConfig
from bridges.sinks.kafka.messages import CloudCommand, CommandResult, ModelUpdate, command_id_of
from hub.errors import PayloadError, SparkError
from hub.services import ServiceError, Services
from hub.topics import TopicLayout

log = logging.getLogger(__name__)

PublishConfirmed = Callable[[str, str | bytes, int, bool], Awaitable[None]]
REMEMBERED = 10_000  # command ids kept to answer replays without re-executing
BACKOFF = (0.5, 30.0)


class CloudSourceError(SparkError):
    """The Kafka link of the cloud source failed; the supervisor rebuilds it."""


class SourceState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    RUNNING = "running"
    BACKOFF = "backoff"
    CLOSED = "closed"


@dataclass(slots=True)
class SourceStats:
    executed: int = 0
    rejected: int = 0
    duplicates: int = 0
    models: int = 0
    committed: int = 0
    restarts: int = 0


class CloudCommandSource:
    """``async with CloudCommandSource(cfg, hub.services, hub.client.publish_confirmed,
    layout):`` runs it in the background (or ``await source.run()`` in a TaskGroup)."""

    def __init__(self, config: KafkaSinkConfig, services: Services, publish: PublishConfirmed,
                 layout: TopicLayout, *, device_id: str = "hub") -> None:
        self.config = config
        self.services = services
        self.layout = layout
        self.device_id = device_id
        self._publish = publish
        self.state = SourceState.IDLE
        self.stats = SourceStats()
        self.ready = asyncio.Event()  # partitions assigned: what is produced from now is seen
        self.inflight: str | None = None  # "topic/partition@offset" being handled
        self._done: OrderedDict[str, CommandResult] = OrderedDict()
        self._positions: dict[tuple[str, int], int] = {}  # next offset, survives rebuilds
        self._consumer_lock = threading.Lock()  # consume and close never overlap
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> CloudCommandSource:
        if self._task is not None:
            raise CloudSourceError("CloudCommandSource is not re-entrant")
        self._task = asyncio.create_task(self.run(), name="kafka-cloud-source")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.state = SourceState.CLOSED
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        """Supervisor: (re)build the Kafka clients, serve, back off on failure."""
        delay = BACKOFF[0]
        while self.state is not SourceState.CLOSED:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.restarts += 1
                log.warning("kafka cloud source: %s; retrying in %.1fs", exc, delay)
            self.state = SourceState.BACKOFF
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, BACKOFF[1])

    async def _run_once(self) -> None:
        self.state = SourceState.CONNECTING
        src = self.config.source
        topics = [src.commands_topic, src.models_topic, src.results_topic]
        if src.report_events:
            topics.append(self.config.topics["event"])
        parts = await asyncio.to_thread(ensure_topics, self.config, topics)
        consumer, producer = self._make_clients()
        try:
            await asyncio.to_thread(self._assign, consumer, parts)
            self.state = SourceState.RUNNING
            self.ready.set()
            log.info("kafka cloud source: consuming %s, %s", src.commands_topic, src.models_topic)
            await self._serve(consumer, producer)
        finally:
            self.ready.clear()
            await asyncio.to_thread(self._close_clients, consumer, producer)

    def _make_clients(self) -> tuple[Consumer, Producer]:
        consumer = Consumer({**consumer_config(self.config), "error_cb": self._on_link_error})
        return consumer, Producer(producer_config(self.config))

    def _on_link_error(self, err: KafkaError) -> None:
        log.warning("kafka cloud source: %s: %s", err.name(), err.str())

    def _close_clients(self, consumer: Consumer, producer: Producer) -> None:
        with self._consumer_lock, contextlib.suppress(Exception):
            consumer.close()
        with contextlib.suppress(Exception):
            producer.flush(1.0)

    def _assign(self, consumer: Consumer, parts: dict[str, int]) -> None:
        """Worker thread: start each partition at its committed offset, else where we were,
        else ``start_from``."""
        src, timeout = self.config.source, self.config.connect_timeout
        wanted = [TopicPartition(t, p) for t in (src.commands_topic, src.models_topic)
                  for p in range(parts[t])]
        try:
            committed = consumer.committed(wanted, timeout=timeout)
            start = []
            for tp in committed:
                offset = tp.offset
                if offset < 0:
                    offset = self._positions.get((tp.topic, tp.partition), -1)
                if offset < 0:
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(tp.topic, tp.partition), timeout=timeout, cached=False)
                    offset = high if src.start_from == "latest" else low
                start.append(TopicPartition(tp.topic, tp.partition, offset))
            consumer.assign(start)
        except KafkaException as exc:
            raise translate(exc, "assigning partitions") from exc

    def _consume(self, consumer: Consumer) -> list[KafkaMessage]:
        with self._consumer_lock:
            return consumer.consume(100, self.config.source.poll_timeout)

    # ---- serving -----------------------------------------------------------------------
    async def _serve(self, consumer: Consumer, producer: Producer) -> None:
        src = self.config.source
        while True:
            for msg in await asyncio.to_thread(self._consume, consumer):
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        raise CloudSourceError(f"consumer: {err.name()}: {err.str()}")
                    log.warning("kafka cloud source: %s: %s", err.name(), err.str())
                    continue
                self.inflight = where = f"{msg.topic()}/{msg.partition()}@{msg.offset()}"
                if msg.topic() == src.commands_topic:
                    await self._on_command(msg, where, producer)
                else:
                    await self._on_model_update(msg, where, producer)
                await asyncio.to_thread(self._commit, consumer, msg)
                self.inflight = None

    def _commit(self, consumer: Consumer, msg: KafkaMessage) -> None:
        next_offset = msg.offset() + 1
        tp = TopicPartition(msg.topic(), msg.partition(), next_offset)
        try:
            consumer.commit(offsets=[tp], asynchronous=False)
        except KafkaException as exc:
            raise translate(exc, f"committing {tp.topic}/{tp.partition}@{next_offset}") from exc
        self._positions[(tp.topic, tp.partition)] = next_offset
        self.stats.committed += 1

    async def _on_command(self, msg: KafkaMessage, where: str, producer: Producer) -> None:
        result = await self._execute(msg, where)
        out = [(self.config.source.results_topic, (result.id or where).encode(),
                result.to_payload(), [(IDEMPOTENCY_HEADER, f"result:{where}".encode())])]
        if result.status == "rejected" and self.config.source.report_events:
            event = EventRecord(
                key=f"cloud-command:{where}", device_id=self.device_id, time=result.time,
                event_type="cloud_command_rejected", source=f"kafka:{msg.topic()}",
                data=result.model_dump(mode="json", include={"id", "entity_id", "service",
                                                             "reason"}))
            key, value, headers, _ts = record_message(event)
            out.append((self.config.topics["event"], key, value, headers))
        await asyncio.to_thread(self._send, producer, out)

    async def _execute(self, msg: KafkaMessage, where: str) -> CommandResult:
        try:
            cmd = CloudCommand.from_payload(msg.value())
        except PayloadError as exc:
            return self._reject(command_id_of(msg.value()), None, None, str(exc), where)
        previous = self._done.get(cmd.id)
        if previous is not None:
            self.stats.duplicates += 1
            log.info("cloud command %s from %s already handled (%s); not repeated", cmd.id,
                     where, previous.status)
            return previous.model_copy(update={"status": "duplicate", "source": where})
        reason = self._refuse(cmd, msg)
        if reason is None:
            entity = self.services.registry.get(cmd.entity_id)
            assert entity is not None
            try:
                command = self.services.build(cmd.service, entity, cmd.data)
            except ServiceError as exc:
                reason = str(exc)
        if reason is not None:
            result = self._reject(cmd.id, cmd.entity_id, cmd.service, reason, where)
        else:
            # The offset is committed only once this returns: the broker has the command.
            await self._publish(command.topic, command.payload, max(1, command.qos),
                                command.retain)
            self.stats.executed += 1
            log.info("cloud command %s: %s %s -> %s %r", cmd.id, cmd.service, cmd.entity_id,
                     command.topic, command.payload)
            result = CommandResult(id=cmd.id, status="ok", entity_id=cmd.entity_id,
                                   service=cmd.service, topic=command.topic,
                                   payload=command.payload, source=where)
        self._done[cmd.id] = result
        while len(self._done) > REMEMBERED:
            self._done.popitem(last=False)
        return result

    def _refuse(self, cmd: CloudCommand, msg: KafkaMessage) -> str | None:
        src, now = self.config.source, datetime.now(UTC)
        if cmd.expires_at is not None and cmd.expires_at.astimezone(UTC) <= now:
            return f"expired at {cmd.expires_at.isoformat()}"
        if src.max_age is not None:
            ts_type, ts_ms = msg.timestamp()
            issued = cmd.issued_at.timestamp() if cmd.issued_at is not None else (
                ts_ms / 1000 if ts_type != TIMESTAMP_NOT_AVAILABLE else None)
            age = now.timestamp() - issued if issued is not None else 0.0
            if age > src.max_age:
                return f"stale: issued {age:.0f}s ago (max_age {src.max_age:g}s)"
        if not src.allows(cmd.entity_id, cmd.service):
            return (f"{cmd.service} on {cmd.entity_id} is not allowed from the cloud "
                    "(bridges kafka source.allow_entities / allow_services)")
        entity = self.services.registry.get(cmd.entity_id)
        if entity is None:
            return f"unknown entity {cmd.entity_id}"
        if not entity.available:
            return f"{cmd.entity_id} is unavailable"
        return None

    def _reject(self, cmd_id: str | None, entity_id: str | None, service: str | None,
                reason: str, where: str) -> CommandResult:
        self.stats.rejected += 1
        log.warning("cloud command %s from %s rejected: %s", cmd_id or "(no id)", where, reason)
        return CommandResult(id=cmd_id, status="rejected", entity_id=entity_id, service=service,
                             reason=reason, source=where)

    async def _on_model_update(self, msg: KafkaMessage, where: str, producer: Producer) -> None:
        try:
            update = ModelUpdate.from_payload(msg.value())
        except PayloadError as exc:
            log.warning("model update from %s dropped: %s", where, exc)
            return
        await self._publish(self.layout.models_announcement(), update.to_payload(), 1, True)
        self.stats.models += 1
        log.info("model update %s %s announced on %s", update.model, update.version,
                 self.layout.models_announcement())

    def _send(self, producer: Producer, out: list[tuple[str, bytes, bytes, Any]]) -> None:
        """Worker thread: deliver the result (and event) messages before the commit."""
        tally = DeliveryTally()
        try:
            for topic, key, value, headers in out:
                producer.produce(topic, value, key, headers=headers,
                                 on_delivery=tally.on_delivery)
            left = producer.flush(self.config.delivery_timeout + 5.0)
        except KafkaException as exc:
            raise translate(exc, "reporting a command result") from exc
        if tally.errors or left:
            first = tally.errors[0].str() if tally.errors else "timed out"
            raise CloudSourceError(f"command result not delivered: {first}")
