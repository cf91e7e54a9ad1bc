"""Cloud -> edge: ``cloud.commands`` become MQTT commands, ``models.updates`` a retained
announcement for the nodes.

A command is checked and published by :class:`~bridges.sinks.kafka.commands.CommandExecutor`;
its outcome goes to ``cloud.command.results`` (rejections also as ``analytics.events``
records). The Kafka offset of a message is committed only after that: the MQTT publish was
acknowledged by the broker and the result was delivered. A crash in between replays the
message; within one process the command id is remembered, so the replay is answered
("duplicate") without being executed twice. A model update is published retained on
``<base>/cloud/models`` and committed once acknowledged; a malformed one is logged and skipped.

Partitions are assigned by hand, starting from the group's committed offsets (or
``start_from`` when there are none): no group join, which takes ~23 s on Tansu.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage

from spark.bridges.config import BridgesConfig
from spark.bridges.sinks.kafka.client import (
    IDEMPOTENCY_HEADER,
    SOURCE_EVENT_PREFIX,
    DeliveryTally,
    Headers,
    consumer_config,
    ensure_topics,
    producer_config,
    record_message,
    translate,
)
from spark.bridges.sinks.kafka.commands import CommandExecutor, SourceStats
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.messages import ModelUpdate
from spark.core.backoff import Backoff
from spark.core.errors import PayloadError, SparkError
from spark.core.link import LinkState
from spark.core.messages.records import EventRecord
from spark.core.services import PublishConfirmed, ServiceCaller
from spark.core.topics import TopicLayout

log = logging.getLogger(__name__)

BACKOFF = (0.5, 30.0)  # s: first and longest retry delay
LOG_EVERY = 60.0  # s between log lines for the same link error


class CloudSourceError(SparkError):
    """The Kafka link of the cloud source failed; the supervisor rebuilds it."""


class CloudCommandSource:
    """``async with CloudCommandSource(cfg, hub.services, hub.client.publish_confirmed,
    layout):`` runs it in the background (or ``await source.run()`` in a TaskGroup)."""

    def __init__(self, config: KafkaSinkConfig, services: ServiceCaller,
                 publish: PublishConfirmed, layout: TopicLayout, *,
                 device_id: str = "hub") -> None:
        self.config = config
        self.layout = layout
        self.device_id = device_id
        self._publish = publish
        self.state = LinkState.IDLE
        self.stats = SourceStats()
        self.ready = asyncio.Event()  # partitions assigned: what is produced from now is seen
        self.inflight: str | None = None  # "topic/partition@offset" being handled
        self.commands = CommandExecutor(config.source, services, publish, self.stats)
        self._positions: dict[tuple[str, int], int] = {}  # next offset, survives rebuilds
        self._consumer_lock = threading.Lock()  # consume and close never overlap
        self._task: asyncio.Task[None] | None = None
        self._logged: dict[str, float] = {}  # error name -> when last logged

    # ---- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> CloudCommandSource:
        if self._task is not None:
            raise CloudSourceError("CloudCommandSource is not re-entrant")
        self._task = asyncio.create_task(self.run(), name="kafka-cloud-source")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.state = LinkState.CLOSED
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        """Supervisor: (re)build the Kafka clients, serve, back off on failure."""
        backoff = Backoff(*BACKOFF)
        while self.state is not LinkState.CLOSED:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.restarts += 1
                if self.state is LinkState.UP:
                    backoff.reset()  # it had worked: start the back-off afresh
                log.warning("kafka cloud source: %s; retrying in %.1fs", exc, backoff.delay)
            finally:
                self.inflight = None
            self.state = LinkState.BACKOFF
            await backoff.wait()

    async def _run_once(self) -> None:
        self.state = LinkState.CONNECTING
        src = self.config.source
        topics = [src.commands_topic, src.models_topic, src.results_topic]
        if src.report_events:
            topics.append(self.config.topics["event"])
        parts = await asyncio.to_thread(ensure_topics, self.config, topics)
        consumer, producer = self._make_clients()
        try:
            await asyncio.to_thread(self._assign, consumer, parts)
            self.state = LinkState.UP
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
        """librdkafka reconnects by itself; say so once a minute per kind of error."""
        now, name = time.monotonic(), err.name()
        if now - self._logged.get(name, -LOG_EVERY) >= LOG_EVERY:
            self._logged[name] = now
            log.warning("kafka cloud source: %s: %s", name, err.str())

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

    def _consume(self, consumer: Consumer, producer: Producer) -> list[KafkaMessage]:
        producer.poll(0)  # serve the result producer's callbacks (errors, logs) while idle
        with self._consumer_lock:
            return consumer.consume(100, self.config.source.poll_timeout)

    # ---- serving -----------------------------------------------------------------------
    async def _serve(self, consumer: Consumer, producer: Producer) -> None:
        src = self.config.source
        while True:
            for msg in await asyncio.to_thread(self._consume, consumer, producer):
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        raise CloudSourceError(f"consumer: {err.name()}: {err.str()}")
                    self._on_link_error(err)
                    continue
                self.inflight = where = f"{msg.topic()}/{msg.partition()}@{msg.offset()}"
                if msg.topic() == src.commands_topic:
                    await self._on_command(msg, where, producer)
                else:
                    await self._on_model_update(msg, where, producer)
                await asyncio.to_thread(self._commit, consumer, msg)
                self.inflight = None

    def _commit(self, consumer: Consumer, msg: KafkaMessage) -> None:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        assert topic is not None and partition is not None and offset is not None
        next_offset = offset + 1
        tp = TopicPartition(topic, partition, next_offset)
        try:
            consumer.commit(offsets=[tp], asynchronous=False)
        except KafkaException as exc:
            raise translate(exc, f"committing {tp.topic}/{tp.partition}@{next_offset}") from exc
        self._positions[(tp.topic, tp.partition)] = next_offset
        self.stats.committed += 1

    async def _on_command(self, msg: KafkaMessage, where: str, producer: Producer) -> None:
        ts_type, ts_ms = msg.timestamp()
        sent_at = ts_ms / 1000 if ts_type != TIMESTAMP_NOT_AVAILABLE else None
        result = await self.commands.execute(msg.value(), sent_at, where)
        out: list[tuple[str, bytes, bytes, Headers]] = [(
            self.config.source.results_topic, (result.id or where).encode(), result.to_payload(),
            [(IDEMPOTENCY_HEADER, f"result:{where}".encode())],
        )]
        if result.status == "rejected" and self.config.source.report_events:
            event = EventRecord(
                key=f"{SOURCE_EVENT_PREFIX}{where}", device_id=self.device_id, time=result.time,
                event_type="cloud_command_rejected", source=f"kafka:{msg.topic()}",
                data=result.model_dump(mode="json", include={"id", "entity_id", "service",
                                                             "reason"}))
            key, value, headers, _ts = record_message(event)
            out.append((self.config.topics["event"], key, value, headers))
        await asyncio.to_thread(self._send, producer, out)

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

    def _send(self, producer: Producer, out: list[tuple[str, bytes, bytes, Headers]]) -> None:
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


def cloud_sources(config: BridgesConfig, services: ServiceCaller, publish: PublishConfirmed,
                  layout: TopicLayout, device_id: str) -> list[CloudCommandSource]:
    """One source per ``kafka`` sink with ``source.enabled``, for the hub process to run
    (it needs the hub's registry and MQTT client): ``cloud_sources(cfg.bridges, hub.services,
    hub.client.publish_confirmed, hub.layout, hub.node_id)``."""
    return [CloudCommandSource(sink, services, publish, layout, device_id=device_id)
            for sink in config.sinks
            if isinstance(sink, KafkaSinkConfig) and sink.source.enabled]
