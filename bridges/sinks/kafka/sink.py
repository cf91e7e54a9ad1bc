"""The Kafka sink: outbox batches -> the seed's topics, one message per record.

* Producer: confluent-kafka (librdkafka; ~9x aiokafka here) with ``acks=all``, idempotence,
  lz4 (configurable) and ``linger.ms`` 5. Message key = device id (order per device), header
  ``idempotency-key`` (the record key: consumers drop duplicates), message timestamp = the
  record's time, value = ``Record.to_payload()``.
* ``write`` returns once every message of the batch is acknowledged by the broker, else raises
  :class:`SinkError` (broker down: after ``delivery_timeout``). The blocking part (serialise,
  produce, flush) runs in a worker thread; the loop stays free.
* After a failed write the producer is discarded (queued messages purged) and the next write
  builds a new one through :meth:`KafkaSink._make_producer`: librdkafka's idempotent producer
  can be left fenced or fatally failed by an outage (seen with Tansu: PRODUCER_FENCED,
  UNKNOWN_PRODUCER_ID). A message the broker stored before the failure is sent again on retry:
  that is the at-least-once duplicate the idempotency header is for.
* Topics are created when missing (``open`` and after any failure, since a broker can come
  back empty).
* Reconciliation (:meth:`KafkaSink.counts_per_hour`) reads the topics back over the window and
  counts distinct idempotency keys per kind and hour (:mod:`.counts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from confluent_kafka import KafkaError, KafkaException, Producer

from spark.bridges.sinks.base import Sink, SinkError, register
from spark.bridges.sinks.kafka.client import (
    DeliveryTally,
    ensure_topics,
    producer_config,
    record_message,
    translate,
)
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.counts import count_keys
from spark.core.link import LinkState, tcp_reachable
from spark.core.messages.records import Record

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0  # s between polls of an idle producer (error and log callbacks)


@register
class KafkaSink(Sink):
    type: ClassVar[str] = "kafka"

    def __init__(self, config: KafkaSinkConfig) -> None:
        self.config = config
        self.state = LinkState.IDLE
        self.delivered = 0  # messages acknowledged since start
        self.failures = 0  # writes that raised
        self.dropped = 0  # records too large for the broker, logged and skipped
        self._producer: Producer | None = None
        self._topics_ok = False
        self._lock = asyncio.Lock()  # one write at a time: delivery bookkeeping is per batch
        self._thread_lock = threading.Lock()  # the producer is polled by one thread at a time
        self._poller: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        if self.state is LinkState.CLOSED:
            raise SinkError("kafka sink is closed")
        async with self._lock:
            await self._prepare()
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll_idle(), name="kafka-sink-poll")

    async def probe(self) -> bool:
        """Does a bootstrap server take a TCP connection now? (No Kafka request: cheap.)"""
        for server in self.config.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            if port.isdigit() and await tcp_reachable(host.strip("[]"), int(port),
                                                      self.config.connect_timeout):
                return True
        return False

    async def close(self) -> None:
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        async with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                await asyncio.to_thread(self._discard, producer, 5.0)

    async def __aenter__(self) -> KafkaSink:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- writing -----------------------------------------------------------------------
    async def write(self, batch: Sequence[Record]) -> None:
        if self.state is LinkState.CLOSED:
            raise SinkError("kafka sink is closed")
        if not batch:
            return
        async with self._lock:
            try:
                if not self._topics_ok or self._producer is None:
                    await self._prepare()
                assert self._producer is not None
                delivered = await asyncio.to_thread(self._deliver, self._producer, batch)
            except SinkError:
                self.failures += 1
                self.state = LinkState.DOWN
                self._topics_ok = False
                producer, self._producer = self._producer, None
                if producer is not None:
                    await asyncio.to_thread(self._discard, producer, 0.0)
                raise
            self.delivered += delivered
            self.state = LinkState.UP

    async def _prepare(self) -> None:
        try:
            await asyncio.to_thread(ensure_topics, self.config, list(self.config.topics.values()))
        except SinkError:
            self.state = LinkState.DOWN
            raise
        self._topics_ok = True
        if self._producer is None:
            self._producer = self._make_producer()

    def _make_producer(self) -> Producer:
        return Producer(producer_config(self.config))

    def _deliver(self, producer: Producer, batch: Sequence[Record]) -> int:
        """Worker thread: produce the batch, wait until every message is acknowledged.

        Returns how many were delivered; a record larger than the broker takes is logged and
        dropped (retrying it would block the outbox for ever)."""
        topics = self.config.topics
        done = DeliveryTally()
        on_delivery = done.on_delivery
        produce = producer.produce
        dropped = 0
        with self._thread_lock:
            try:
                for record in batch:
                    key, value, headers, ts = record_message(record)
                    while True:
                        try:
                            produce(topics[record.kind], value, key, on_delivery=on_delivery,
                                    headers=headers, timestamp=ts)
                            break
                        except BufferError:  # local queue full: let deliveries drain it
                            producer.poll(0.05)
                        except KafkaException as exc:
                            if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                                raise
                            dropped += 1
                            log.error("kafka: dropped %s record %s of %d bytes (too large for "
                                      "%s)", record.kind, record.key, len(value),
                                      topics[record.kind])
                            break
                left = producer.flush(self.config.delivery_timeout + 5.0)
            except KafkaException as exc:
                raise translate(exc, "produce") from exc
        self.dropped += dropped
        if done.errors:
            first = done.errors[0]
            raise SinkError(f"kafka: {len(done.errors)} of {len(batch)} message(s) not "
                            f"delivered: {first.name()}: {first.str()}")
        if left:
            raise SinkError(f"kafka: {left} of {len(batch)} message(s) not acknowledged within "
                            f"{self.config.delivery_timeout + 5.0:g}s")
        return len(batch) - dropped

    def _discard(self, producer: Producer, timeout: float) -> None:
        """Drop what a failed producer still holds, so nothing of it arrives after the retry."""
        with self._thread_lock:
            with contextlib.suppress(Exception):
                if timeout <= 0:
                    producer.purge(in_queue=True, in_flight=True, blocking=False)
                producer.flush(timeout)

    async def _poll_idle(self) -> None:
        """Serve librdkafka's callbacks (errors, logs) while no write is running."""
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            producer = self._producer
            if producer is None or self._lock.locked():
                continue
            if self._thread_lock.acquire(blocking=False):
                try:
                    producer.poll(0)
                finally:
                    self._thread_lock.release()

    # ---- reconciliation ----------------------------------------------------------------
    @property
    def reconcile_hours(self) -> int:
        """Reconciliation checks only this many recent hours here (see bridges/reconcile.py):
        reading the topics back costs one fetch per message."""
        return self.config.reconcile_hours

    async def counts_per_hour(self, since: float, until: float) -> dict[tuple[str, int], int]:
        """``{(kind, hour start epoch seconds): distinct idempotency keys}`` of the records
        with ``since <= time < until``, read back from the topics (see :mod:`.counts`)."""
        if self.state is LinkState.CLOSED:
            raise SinkError("kafka sink is closed")
        return await asyncio.to_thread(count_keys, self.config, since, until)

    def stats(self) -> dict[str, Any]:
        return {"state": self.state.value, "delivered": self.delivered,
                "failures": self.failures, "dropped": self.dropped}
