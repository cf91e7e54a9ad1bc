"""librdkafka settings, topic creation and the wire form of a record on Kafka.

Every call here blocks (librdkafka does its I/O in its own threads, but ``flush``, ``poll``,
``list_topics`` and admin futures wait): the sink and the source run them with
``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka.admin import AdminClient, NewTopic

from spark.bridges.sinks.base import SinkError
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.core.messages.records import Record

log = logging.getLogger(__name__)
rdkafka_log = logging.getLogger("spark.bridges.sinks.kafka.rdkafka")

# The record's key: consumers drop duplicates by it. The only header: each one costs ~2 us per
# message in produce(), and the kind is in the topic and the payload already.
IDEMPOTENCY_HEADER = "idempotency-key"
# Key prefix of the events the cloud source writes itself (rejected commands): they never pass
# through the outbox, so reconciliation leaves them out of its counts.
SOURCE_EVENT_PREFIX = "cloud-command:"

Headers = list[tuple[str, str | bytes | None]]


class DeliveryTally:
    """Failed deliveries of one batch. Producers report failures only
    (``delivery.report.only.error``): no Python call per delivered message, so a batch is
    delivered when ``flush`` left nothing queued and no error came back."""

    __slots__ = ("errors",)

    def __init__(self) -> None:
        self.errors: list[KafkaError] = []

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.errors.append(err)


def common_config(cfg: KafkaSinkConfig) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": cfg.bootstrap_servers,
        "client.id": cfg.client_id,
        "security.protocol": cfg.security_protocol,
        "logger": rdkafka_log,  # librdkafka's log lines go through logging, not stderr
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 2000,
    }
    if cfg.sasl_mechanism is not None:
        conf["sasl.mechanism"] = cfg.sasl_mechanism
        conf["sasl.username"] = cfg.sasl_username
        conf["sasl.password"] = cfg.sasl_secret()
    if cfg.ssl_ca_location is not None:
        conf["ssl.ca.location"] = str(cfg.ssl_ca_location)
    return conf


def producer_config(cfg: KafkaSinkConfig) -> dict[str, Any]:
    """acks=all + idempotence: per partition, no loss, no duplicate and no reordering from the
    producer's own retries; ``message.timeout.ms`` bounds how long a write waits."""
    return {
        **common_config(cfg),
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": cfg.compression,
        "linger.ms": cfg.linger_ms,
        "message.timeout.ms": int(cfg.delivery_timeout * 1000),
        "queue.buffering.max.messages": cfg.queue_max_messages,
        "partitioner": "murmur2_random",  # Java client's partitioner: same key, same partition
        "delivery.report.only.error": True,  # see DeliveryTally
    }


def consumer_config(cfg: KafkaSinkConfig) -> dict[str, Any]:
    """Manual assignment (no group join: Tansu takes ~23 s for one with default timings),
    offsets committed by hand, one at a time, after the MQTT publish is acknowledged."""
    src = cfg.source
    return {
        **common_config(cfg),
        "group.id": src.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": src.start_from,
        "fetch.wait.max.ms": src.fetch_wait_ms,
        "enable.partition.eof": False,
    }


def translate(exc: BaseException, what: str) -> SinkError:
    """A librdkafka error as a SinkError naming what failed."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        err: KafkaError = exc.args[0]
        return SinkError(f"kafka: {what}: {err.name()}: {err.str()}")
    return SinkError(f"kafka: {what}: {exc}")


def ensure_topics(cfg: KafkaSinkConfig, topics: list[str]) -> dict[str, int]:
    """Create the missing ``topics`` (partition counts from the config); return the partition
    count of each. An existing topic is left as it is (a differing count is logged)."""
    admin = AdminClient(common_config(cfg))
    timeout = cfg.connect_timeout
    try:
        meta = admin.list_topics(timeout=timeout)
        have = {name: len(t.partitions) for name, t in meta.topics.items() if t.error is None}
        missing = [t for t in topics if t not in have]
        if missing and cfg.create_topics:
            futures = admin.create_topics(
                [NewTopic(t, cfg.partitions[t], cfg.replication_factor) for t in missing],
                operation_timeout=timeout, request_timeout=timeout)
            for topic, fut in futures.items():
                try:
                    fut.result(timeout)
                    log.info("kafka: created topic %s (%d partitions)", topic,
                             cfg.partitions[topic])
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise
            meta = admin.list_topics(timeout=timeout)
            have = {name: len(t.partitions) for name, t in meta.topics.items()
                    if t.error is None}
        elif missing:
            raise SinkError(f"kafka: topics missing and create_topics is off: {missing}")
    except KafkaException as exc:
        raise translate(exc, f"topic check on {cfg.bootstrap_servers}") from exc
    for topic in topics:
        if topic not in have:
            raise SinkError(f"kafka: topic {topic} does not exist after creation")
        if have[topic] != cfg.partitions[topic]:
            log.warning("kafka: topic %s has %d partitions, the config says %d (left as is)",
                        topic, have[topic], cfg.partitions[topic])
    return {t: have[t] for t in topics}


def record_message(record: Record) -> tuple[bytes, bytes, Headers, int]:
    """(key, value, headers, timestamp ms) of a record: keyed by device so one device's records
    stay in order on one partition; the idempotency key rides in a header."""
    return (
        record.device_id.encode(),
        record.to_payload(),
        [(IDEMPOTENCY_HEADER, record.key.encode())],
        int(record.time.timestamp() * 1000),
    )
