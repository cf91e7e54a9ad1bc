"""Reconciliation counts read back from Kafka: distinct idempotency keys per (kind, hour).

Kafka cannot be queried, so :func:`count_keys` reads the sink's topics over the window:

* per partition from the first offset whose timestamp is ``>= since`` (``offsets_for_times``;
  Kafka's time index makes that exact, and every earlier offset holds an older message). Tansu
  answers the earliest offset instead: still correct, only more to read. A partition with
  nothing at or after ``since`` is not read at all;
* up to the end of the partition, as the fetch response reports it (a partition-EOF event):
  not ``get_watermark_offsets``, which Tansu answers with the last batch's base offset + 1;
* a message counts when ``since <= timestamp < until``, once per idempotency key (the header
  the sink writes), in the hour of its timestamp (the record's time: the sink sets the
  message's CreateTime to it, as the outbox ledger buckets it). A message without the header or
  with a broker-set LogAppendTime is read from its payload instead.

Re-sent copies (at-least-once) count once, so the figures compare with the outbox ledger,
which counts each record once. Events the cloud source writes itself (key prefix
:data:`~bridges.sinks.kafka.client.SOURCE_EVENT_PREFIX`) never went through the outbox and are
left out. The work is bounded: reconciliation asks for the last ``reconcile_hours`` only (see
bridges/reconcile.py), at most ``reconcile_max_messages`` messages are read (beyond that the
count is given up with a log line and :class:`SinkError`, so reconciliation is postponed
rather than re-sending everything), within ``reconcile_timeout`` seconds. Measured here on
Tansu: ~115,000 messages/s read back.

Blocking (librdkafka waits): the sink runs it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage

from spark.bridges.sinks.base import SinkError
from spark.bridges.sinks.kafka.client import (
    IDEMPOTENCY_HEADER,
    SOURCE_EVENT_PREFIX,
    common_config,
    translate,
)
from spark.bridges.sinks.kafka.config import KafkaSinkConfig

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
_SOURCE_PREFIX = SOURCE_EVENT_PREFIX.encode()

Counts = dict[tuple[str, int], int]


def counts_consumer_config(cfg: KafkaSinkConfig) -> dict[str, Any]:
    """A reader that never joins a group nor commits (partitions assigned by hand)."""
    return {
        **common_config(cfg),
        "group.id": f"{cfg.client_id}-reconcile-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",  # a start offset already deleted by retention
        "fetch.wait.max.ms": 50,
    }


class _Tally:
    """Distinct keys per (kind, hour) of the messages in the window."""

    def __init__(self, cfg: KafkaSinkConfig, since: float, until: float) -> None:
        self.lo_ms, self.hi_ms = int(since * 1000), int(until * 1000)
        kinds: dict[str, list[str]] = defaultdict(list)
        for kind, topic in cfg.topics.items():
            kinds[topic].append(kind)
        # A topic shared by several kinds: the kind comes from the payload.
        self.kind_of = {t: ks[0] if len(ks) == 1 else None for t, ks in kinds.items()}
        # 64-bit hashes rather than the keys: ~half the memory. A collision (odds ~1e-7 at 2M
        # keys) undercounts by one, so at worst an hour is re-sent needlessly, never missed.
        self.keys: dict[tuple[str, int], set[int]] = defaultdict(set)
        self.read = 0  # messages read, in the window or not
        self.unusable = 0  # messages without a key / time / kind we could read

    def add(self, msg: KafkaMessage) -> None:
        self.read += 1
        headers = msg.headers()
        if not isinstance(headers, list):  # a consumed message's headers: a list or None
            headers = None
        if (headers and headers[0][0] == IDEMPOTENCY_HEADER  # what the sink writes
                and isinstance(headers[0][1], bytes)):
            key: bytes | None = headers[0][1]
        else:
            key = _header(headers)
        ts_type, ts = msg.timestamp()
        kind = self.kind_of.get(msg.topic() or "")
        if key is None or ts_type != TIMESTAMP_CREATE_TIME or kind is None:
            parsed = _from_payload(msg.value())
            if parsed is None:
                self.unusable += 1
                return
            p_key, p_ts, p_kind = parsed
            key = key if key is not None else p_key
            ts = ts if ts_type == TIMESTAMP_CREATE_TIME else p_ts
            kind = kind if kind is not None else p_kind
        if not self.lo_ms <= ts < self.hi_ms or key.startswith(_SOURCE_PREFIX):
            return
        self.keys[(kind, ts // HOUR_MS * 3600)].add(hash(key))

    def counts(self) -> Counts:
        return {cell: len(keys) for cell, keys in self.keys.items()}


def _header(headers: list[tuple[str, str | bytes | None]] | None) -> bytes | None:
    for name, value in headers or ():
        if name == IDEMPOTENCY_HEADER and isinstance(value, bytes):
            return value
    return None


def _from_payload(value: bytes | None) -> tuple[bytes, int, str] | None:
    """(key, time in ms, kind) from a record's JSON payload, or None."""
    try:
        body = orjson.loads(value or b"")
        when = datetime.fromisoformat(body["time"])
        return str(body["key"]).encode(), int(when.timestamp() * 1000), str(body["kind"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def count_keys(cfg: KafkaSinkConfig, since: float, until: float) -> Counts:
    """``{(kind, hour start epoch s): distinct keys}`` of the sink's topics with
    ``since <= record time < until``. Raises :class:`SinkError` when Kafka cannot be read or
    the bounds are exceeded."""
    tally = _Tally(cfg, since, until)
    consumer = Consumer(counts_consumer_config(cfg))
    started = time.monotonic()
    try:
        pending = _assign(consumer, cfg, sorted(set(cfg.topics.values())), tally.lo_ms)
        _read(consumer, cfg, pending, tally, started + cfg.reconcile_timeout)
    except KafkaException as exc:
        raise translate(exc, "reading topics back for reconciliation") from exc
    finally:
        consumer.close()
    if tally.unusable:
        log.warning("kafka: reconciliation skipped %d message(s) with no readable key or time",
                    tally.unusable)
    counts = tally.counts()
    log.info("kafka: reconciliation read %d message(s) in %.1fs: %d distinct key(s) in the "
             "window", tally.read, time.monotonic() - started, sum(counts.values()))
    return counts


def _assign(consumer: Consumer, cfg: KafkaSinkConfig, topics: list[str], since_ms: int
            ) -> set[tuple[str, int]]:
    """Assign every partition of ``topics`` from its first offset at or after ``since_ms``;
    returns the partitions to read (a missing topic holds nothing)."""
    timeout = cfg.connect_timeout
    meta = consumer.list_topics(timeout=timeout)
    wanted = [TopicPartition(topic, p, since_ms) for topic in topics
              if (t := meta.topics.get(topic)) is not None and t.error is None
              for p in sorted(t.partitions)]
    if not wanted:
        return set()
    starts = consumer.offsets_for_times(wanted, timeout=timeout)
    for tp in starts:
        if tp.error is not None:
            raise SinkError(f"kafka: offsets_for_times on {tp.topic}/{tp.partition}: "
                            f"{tp.error.str()}")
    assigned = [tp for tp in starts if tp.offset >= 0]  # -1: nothing that recent
    consumer.assign(assigned)
    return {(tp.topic, tp.partition) for tp in assigned}


def _read(consumer: Consumer, cfg: KafkaSinkConfig, pending: set[tuple[str, int]],
          tally: _Tally, deadline: float) -> None:
    limit = cfg.reconcile_max_messages
    last_error: KafkaError | None = None
    while pending:
        if time.monotonic() > deadline:
            why = f" (last error: {last_error.str()})" if last_error is not None else ""
            raise SinkError(f"kafka: reconciliation read {tally.read} message(s) and did not "
                            f"reach the end of {len(pending)} partition(s) within "
                            f"reconcile_timeout {cfg.reconcile_timeout:g}s{why}")
        for msg in consumer.consume(10_000, 0.2):
            err = msg.error()
            if err is None:
                tally.add(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                pending.discard((msg.topic() or "", msg.partition() or 0))
            elif err.fatal():
                raise SinkError(f"kafka: reconciliation reader: {err.name()}: {err.str()}")
            else:
                last_error = err  # librdkafka retries by itself; the deadline bounds it
        if tally.read > limit:
            log.warning("kafka: reconciliation gave up after %d messages (reconcile_max_messages "
                        "%d): the window of outbox.keep_delivered_hours holds more; raise the "
                        "limit or shorten the window", tally.read, limit)
            raise SinkError(f"kafka: more than reconcile_max_messages ({limit}) messages in the "
                            f"reconciliation window")
