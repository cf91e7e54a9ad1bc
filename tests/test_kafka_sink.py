"""The Kafka sink against a real Tansu broker: topics, keys, headers, broker outage."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient
from kafka_fixture import Got, read_topic
from pydantic import ValidationError

from spark.app.config.models import SparkConfig
from spark.bridges.sinks.base import SinkError, sink_class
from spark.bridges.sinks.kafka.client import IDEMPOTENCY_HEADER
from spark.bridges.sinks.kafka.config import PARTITIONS, KafkaSinkConfig
from spark.bridges.sinks.kafka.sink import KafkaSink
from spark.bridges.sinks.kafka.source import cloud_sources
from spark.core.link import LinkState
from spark.core.messages.records import (
    KAFKA_TOPICS,
    EventRecord,
    HealthRecord,
    InferenceRecord,
    MetricRecord,
    Record,
    SensorRecord,
    record_from_payload,
)
from spark.hub.services import SERVICES

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def make_record(run: str, device: str, seq: int) -> Record:
    """Record ``seq`` of ``device``; the kind cycles so every topic gets some."""
    common = {"key": f"{run}:{device}:{seq}", "device_id": device,
              "time": T0 + timedelta(milliseconds=seq)}
    match seq % 5:
        case 0:
            return MetricRecord(**common, metric_name="cpu_percent", value=seq / 10)
        case 1:
            return SensorRecord(**common, sensor_id=f"sensor.{device}_t", value=21.5,
                                state="21.5", unit="°C", attributes={"seq": seq})
        case 2:
            return InferenceRecord(**common, model_name="yolov8n", latency_ms=12.5,
                                   counts={"person": 1},
                                   detections=[{"label": "person", "score": 0.9}])
        case 3:
            return EventRecord(**common, event_type="doorbell", source=f"event.{device}_bell",
                               data={"seq": seq})
        case _:
            return HealthRecord(**common, status="healthy", details={"seq": seq})


def make_batches(run: str, devices: int, per_device: int, batch: int) -> list[list[Record]]:
    flat = [make_record(run, f"dev{d}", i) for i in range(per_device) for d in range(devices)]
    return [flat[i:i + batch] for i in range(0, len(flat), batch)]


def config(bootstrap: str, **over: object) -> KafkaSinkConfig:
    return KafkaSinkConfig.model_validate(
        {"bootstrap_servers": bootstrap, "delivery_timeout": 3, "connect_timeout": 3, **over})


async def read_sink_topics(bootstrap: str, at_least: dict[str, int]) -> dict[str, list[Got]]:
    return {kind: await asyncio.to_thread(read_topic, bootstrap, topic, at_least=at_least[kind])
            for kind, topic in KAFKA_TOPICS.items()}


def expected_per_kind(records: list[Record]) -> dict[str, int]:
    counts = dict.fromkeys(KAFKA_TOPICS, 0)
    for r in records:
        counts[r.kind] += 1
    return counts


def check_order(got: list[Got]) -> None:
    """One device's records sit on one partition, in the order written (duplicates dropped)."""
    seen: set[bytes] = set()
    by_device: dict[bytes, list[Got]] = defaultdict(list)
    for g in sorted(got, key=lambda g: (g.partition, g.offset)):
        key = g.headers[IDEMPOTENCY_HEADER]
        if key not in seen:
            seen.add(key)
            assert g.key is not None
            by_device[g.key].append(g)
    for device, items in by_device.items():
        assert len({g.partition for g in items}) == 1, device
        seqs = [int(g.headers[IDEMPOTENCY_HEADER].rsplit(b":", 1)[1]) for g in items]
        assert seqs == sorted(seqs), (device, seqs)


async def test_sink_creates_topics_and_delivers_every_kind(kafka):
    cfg = config(kafka.bootstrap)
    records = [r for batch in make_batches("a", 4, 25, 1000) for r in batch]
    assert sink_class("kafka") is KafkaSink
    async with KafkaSink(cfg) as sink:
        await sink.write(records)
        assert sink.state is LinkState.UP and sink.delivered == len(records)
    meta = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10)
    for topic in KAFKA_TOPICS.values():
        assert len(meta.topics[topic].partitions) == PARTITIONS[topic], topic
    assert PARTITIONS["edge.telemetry"] == 6 and PARTITIONS["system.health"] == 1

    expected = expected_per_kind(records)
    by_key = {r.key: r for r in records}
    got = await read_sink_topics(kafka.bootstrap, expected)
    for kind, messages in got.items():
        assert len(messages) == expected[kind], kind
        for g in messages:
            assert g.topic == KAFKA_TOPICS[kind]
            record = record_from_payload(g.value or b"")
            assert record == by_key[record.key]  # the wire form round-trips
            assert record.kind == kind and set(g.headers) == {IDEMPOTENCY_HEADER}
            assert g.key == record.device_id.encode()
            assert g.headers[IDEMPOTENCY_HEADER] == record.key.encode()
        check_order(messages)


async def test_partition_counts_are_configurable(kafka):
    cfg = config(kafka.bootstrap, topics={"health": "site1.health"},
                 partitions={"edge.telemetry": 2, "site1.health": 4})
    async with KafkaSink(cfg) as sink:
        await sink.write([make_record("p", "dev0", 0), make_record("p", "dev0", 4)])
    meta = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_topics(timeout=10)
    assert len(meta.topics["edge.telemetry"].partitions) == 2
    assert len(meta.topics["site1.health"].partitions) == 4
    assert len(meta.topics["edge.sensors"].partitions) == 6  # the other defaults hold
    got = await asyncio.to_thread(read_topic, kafka.bootstrap, "site1.health", at_least=1)
    assert [g.headers[IDEMPOTENCY_HEADER] for g in got] == [b"p:dev0:4"]


async def test_a_record_too_large_for_the_broker_is_dropped_not_retried(kafka, caplog):
    huge = SensorRecord(key="big:0", device_id="dev0", time=T0, sensor_id="sensor.dev0_blob",
                        attributes={"blob": "x" * 1_100_000})
    small = [make_record("s", "dev0", 1), make_record("s", "dev0", 6)]
    async with KafkaSink(config(kafka.bootstrap)) as sink:
        await sink.write([small[0], huge, small[1]])
        assert sink.dropped == 1 and sink.delivered == 2
    assert any("dropped sensor record big:0" in r.getMessage() for r in caplog.records)
    got = await asyncio.to_thread(read_topic, kafka.bootstrap, "edge.sensors", at_least=2)
    assert [g.headers[IDEMPOTENCY_HEADER] for g in got] == [b"s:dev0:1", b"s:dev0:6"]


async def test_open_and_write_raise_sink_error_without_broker():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = KafkaSink(config(f"127.0.0.1:{port}", connect_timeout=1))
    with pytest.raises(SinkError, match="kafka: topic check"):
        await sink.open()
    with pytest.raises(SinkError):
        await sink.write([make_record("x", "dev0", 0)])
    assert sink.state is LinkState.DOWN
    await sink.close()
    await sink.close()
    with pytest.raises(SinkError, match="closed"):
        await sink.write([make_record("x", "dev0", 0)])


async def test_broker_stopped_mid_stream_then_back_no_loss_no_duplicates(durable_kafka):
    """Tansu on S3 storage is stopped while the sink writes, then restarted: the writer (an
    outbox pump in miniature) retries the failed batch; consumers, dropping duplicates by the
    idempotency header, see every record exactly once and each device's records in order."""
    batches = make_batches("r", devices=8, per_device=60, batch=40)  # 12 batches, 480 records
    stop_at = 5
    sink = KafkaSink(config(durable_kafka.bootstrap))
    await sink.open()
    stopping = asyncio.Event()
    failed = asyncio.Event()
    back = asyncio.Event()
    failures = 0

    async def pump() -> None:
        nonlocal failures
        for i, batch in enumerate(batches):
            if i == stop_at:
                stopping.set()  # the broker goes down while this batch is being written
            while True:
                try:
                    await sink.write(batch)
                    break
                except SinkError:
                    failures += 1
                    failed.set()
                    await back.wait()

    task = asyncio.create_task(pump())
    async with asyncio.timeout(60):
        await stopping.wait()
        await asyncio.to_thread(durable_kafka.stop)
        await failed.wait()
        await asyncio.to_thread(durable_kafka.start)
        back.set()
        await task
    await sink.close()
    assert failures >= 1

    records = [r for batch in batches for r in batch]
    expected = expected_per_kind(records)
    got = await read_sink_topics(durable_kafka.bootstrap, expected)
    total = sum(len(v) for v in got.values())
    for kind, messages in got.items():
        distinct = {g.headers[IDEMPOTENCY_HEADER] for g in messages}
        assert distinct == {r.key.encode() for r in records if r.kind == kind}, kind
        check_order(messages)
    distinct_all = sum(len({g.headers[IDEMPOTENCY_HEADER] for g in v}) for v in got.values())
    assert distinct_all == len(records) == 480
    print(f"\n{len(records)} records, {failures} failed write(s), {total} messages on Kafka "
          f"({total - distinct_all} duplicate(s) dropped by key)")


def test_config_rules():
    # the cloud may name any platform's service (core/platforms), the hub's services
    assert KafkaSinkConfig(source={"allow_services": list(SERVICES)}).source.allow_services
    cfg = KafkaSinkConfig(partitions={"edge.telemetry": 12})
    assert cfg.partitions["edge.telemetry"] == 12 and cfg.partitions["edge.sensors"] == 6
    assert cfg.partitions["cloud.commands"] == 3 and cfg.partitions["models.updates"] == 1
    with pytest.raises(ValidationError, match=r"partitions\.site\.metrics"):
        KafkaSinkConfig(topics={"metric": "site.metrics"})
    with pytest.raises(ValidationError, match="unknown record kind"):
        KafkaSinkConfig(topics={"metrics": "x"})
    with pytest.raises(ValidationError, match="needs sasl_mechanism"):
        KafkaSinkConfig(security_protocol="SASL_SSL")
    with pytest.raises(ValidationError, match="allow_services"):
        KafkaSinkConfig(source={"allow_services": ["reboot"]})
    src = KafkaSinkConfig(source={"allow_entities": ["switch.sim1_*", "light.desk"]}).source
    assert src.allows("switch.sim1_lamp", "turn_on")
    assert not src.allows("switch.sim1_lamp", "press")
    assert not src.allows("switch.sim2_lamp", "turn_on")
    assert not KafkaSinkConfig().source.allows("switch.sim1_lamp", "turn_on")  # default: none
    spark = SparkConfig.model_validate({"bridges": {"sinks": [
        {"type": "kafka"}, {"type": "kafka", "source": {"enabled": False}}]}})
    [src_one] = cloud_sources(spark.bridges, None, None, spark.mqtt.layout(), "hub")  # type: ignore[arg-type]
    assert src_one.config is spark.bridges.sinks[0]


# ---- reconciliation counts -----------------------------------------------------------------
def hourly(run: str, hour: datetime, n: int) -> list[Record]:
    """``n`` records of every kind spread over one hour (keys unique per run and hour)."""
    tag = f"{run}{hour:%H}"
    return [make_record(tag, f"dev{i % 3}", i).model_copy(
        update={"time": hour + timedelta(seconds=i * 3599 / max(n * 5 - 1, 1))})
        for i in range(n * 5)]


def cells(records: list[Record]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = defaultdict(int)
    for r in records:
        out[(r.kind, int(r.time.timestamp()) // 3600 * 3600)] += 1
    return dict(out)


async def test_counts_per_hour_counts_distinct_keys_in_the_window(kafka):
    """Per (kind, hour) of the record's time: re-sent copies count once, hours outside the
    window and the cloud source's own events not at all."""
    h0, h1, h2 = T0 - timedelta(hours=1), T0, T0 + timedelta(hours=1)
    before, inside, last = hourly("c", h0, 4), hourly("c", h1, 6), hourly("c", h2, 3)
    own = EventRecord(key="cloud-command:cloud.commands/0@7", device_id="hub", time=h1,
                      event_type="cloud_command_rejected", source="kafka:cloud.commands")
    async with KafkaSink(config(kafka.bootstrap)) as sink:
        await sink.write([*before, *inside, *last, own])
        await sink.write(inside[::2])  # an at-least-once replay
        got = await sink.counts_per_hour(h1.timestamp(), (h2 + timedelta(hours=1)).timestamp())
        assert got == cells([*inside, *last])
        assert sum(got.values()) == 45 and all(n in (6, 3) for n in got.values())
        assert await sink.counts_per_hour(h0.timestamp(), h1.timestamp()) == cells(before)
        assert await sink.counts_per_hour(0, h0.timestamp()) == {}


async def test_counts_per_hour_gives_up_beyond_the_message_bound(kafka, caplog):
    async with KafkaSink(config(kafka.bootstrap, reconcile_max_messages=20)) as sink:
        await sink.write(hourly("g", T0, 10))
        with pytest.raises(SinkError, match="reconcile_max_messages"):
            await sink.counts_per_hour(T0.timestamp(), T0.timestamp() + 3600)
    assert any("reconciliation gave up after" in r.getMessage() for r in caplog.records)
