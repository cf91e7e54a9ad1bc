"""The full path with the real sinks: Mosquitto -> bridge -> outbox -> PostgreSQL (throwaway
cluster, tests/pg_fixture.py) and Kafka (Tansu on S3 storage, tests/kafka_fixture.py), with both
stopped mid-stream for a while and restarted; exact counts afterwards.

Kafka is at-least-once: a batch the pump retries after a timeout can land twice, and consumers
drop such copies by the ``idempotency-key`` header, so Kafka is checked by distinct keys (the
raw message count is printed). PostgreSQL drops replays itself: its counts are exact.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from broker_fixture import HUB, RunningBroker
from helpers import wait_for
from kafka_fixture import read_topic
from pg_fixture import PgCluster
from test_bridge import END, publish_many, running, states
from test_kafka_sink import cells, hourly

from spark.app.config.models import SparkConfig
from spark.bridges.config import BridgeSettings
from spark.bridges.outbox.store import Outbox
from spark.bridges.runtime import Bridge, make_pump, run_sync, sink_factories
from spark.bridges.sinks.kafka.client import IDEMPOTENCY_HEADER
from spark.bridges.sinks.kafka.sink import KafkaSink
from spark.bridges.sinks.kafka.tansu import TansuProcess
from spark.core.messages.records import KAFKA_TOPICS, Record

TIME = "2025-06-01T12:00:00+00:00"


def telemetry(n: int, start: int = 0) -> list[tuple[str, bytes, bool]]:
    return [("spark/cloud/telemetry", orjson.dumps({
        "v": 1, "node": "cloud", "time": f"2025-06-01T12:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        "metrics": {f"cloud_{i % 7}": {"cpu": i, "temp": i / 10}}}), False)
        for i in range(start, n)]


def pg(url: str, sql: str) -> list[tuple]:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(sql).fetchall()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return []  # down, or the sink has not created its tables yet


def pg_count(url: str, table: str, where: str = "TRUE") -> int:
    got = pg(url, f"SELECT count(*) FROM {table} WHERE {where}")
    return int(got[0][0]) if got else -1


async def pg_has(url: str, table: str, n: int, where: str = "TRUE") -> bool:
    return await asyncio.to_thread(pg_count, url, table, where) == n


def distinct_keys(bootstrap: str, topic: str, at_least: int) -> tuple[int, int]:
    got = read_topic(bootstrap, topic, at_least=at_least, timeout=60)
    return len({g.headers[IDEMPOTENCY_HEADER] for g in got}), len(got)


async def test_postgres_and_kafka_down_mid_stream_exact_counts(
        broker: RunningBroker, fresh_postgres: PgCluster, durable_kafka: TansuProcess,
        tmp_path: Path) -> None:
    url = await asyncio.to_thread(fresh_postgres.create_database)
    cfg = broker.spark_config(bridges={
        "outbox": {"path": str(tmp_path / "outbox")},
        "ingest": {"client_id": f"test-bridge-{uuid.uuid4().hex[:8]}", "commit_ms": 5},
        "backoff_max": 0.5,
        "sinks": [
            {"type": "timescale", "url": url, "maintenance_seconds": 0, "connect_timeout": 2},
            {"type": "kafka", "bootstrap_servers": durable_kafka.bootstrap,
             "delivery_timeout": 3, "connect_timeout": 3},
        ],
    }).bridge_settings()
    bridge = Bridge(cfg, password=broker.passwords[HUB], status=False)
    sensors = "device_id = 'cloud'"
    async with running(bridge):
        await asyncio.to_thread(publish_many, broker, [*states("cloud", 1500),
                                                       *telemetry(100)])
        await wait_for(lambda: pg_has(url, "device_metrics", 200), 30,
                       what="first part in PostgreSQL")
        await asyncio.to_thread(fresh_postgres.stop)
        await asyncio.to_thread(durable_kafka.stop)
        await asyncio.to_thread(publish_many, broker, [*states("cloud", 4000, 1500),
                                                       *telemetry(300, 100)])
        # The pumps run in the bridge's child process (the default layout): their link states
        # are in the shared outbox.
        assert bridge.child is not None and not bridge.pumps
        await wait_for(lambda: all(bridge.outbox.links().get(s, ("",))[0] == "backoff"
                                   for s in ("timescale", "kafka")), 30,
                       what="both sinks failing")
        await wait_for(lambda: bridge.outbox.backlog("timescale").count >= 2500 + 400, 30)
        backlog = bridge.outbox.backlog("kafka")
        assert backlog.count >= 2500 and backlog.oldest_age_s > 0
        await asyncio.to_thread(fresh_postgres.start)
        await asyncio.to_thread(durable_kafka.start)
        await asyncio.to_thread(publish_many, broker, [*states("cloud", 5000, 4000),
                                                       *telemetry(400, 300),
                                                       (END, "online", False)])
        await wait_for(lambda: pg_has(url, "analytics_events", 1,
                                      "record_key LIKE 'health:end:%'"), 60,
                       what="end marker in PostgreSQL")
        await wait_for(lambda: all(bridge.outbox.backlog(s).count == 0
                                   for s in ("timescale", "kafka")), 90, what="backlogs drained")
    assert pg(url, f"SELECT count(*), count(DISTINCT record_key), count(DISTINCT state) "
                   f"FROM sensor_data WHERE {sensors}") == [(5000, 5000, 5000)]
    assert pg(url, "SELECT count(*), count(DISTINCT record_key) FROM device_metrics") == [
        (800, 800)]
    sensors_k, raw_s = await asyncio.to_thread(distinct_keys, durable_kafka.bootstrap,
                                               "edge.sensors", 5000)
    metrics_k, raw_m = await asyncio.to_thread(distinct_keys, durable_kafka.bootstrap,
                                               "edge.telemetry", 800)
    assert (sensors_k, metrics_k) == (5000, 800)
    print(f"\nKafka: {raw_s} sensor and {raw_m} metric messages for 5000 + 800 records "
          f"({raw_s + raw_m - 5800} re-sent copies dropped by key)")


async def test_sync_restores_rows_deleted_in_postgres(broker: RunningBroker, pg_url: str,
                                                      tmp_path: Path) -> None:
    cfg = broker.spark_config(bridges={
        "outbox": {"path": str(tmp_path / "outbox")},
        "ingest": {"client_id": f"test-bridge-{uuid.uuid4().hex[:8]}", "commit_ms": 5},
        "sinks": [{"type": "timescale", "url": pg_url, "maintenance_seconds": 0}],
    }).bridge_settings()
    bridge = Bridge(cfg, password=broker.passwords[HUB], status=False)
    async with running(bridge):
        await asyncio.to_thread(publish_many, broker, [*states("gap", 600), *telemetry(50)])
        await wait_for(lambda: pg_has(pg_url, "sensor_data", 600), 30)
        await wait_for(lambda: pg_has(pg_url, "device_metrics", 100), 30)
        await wait_for(lambda: bridge.outbox.backlog("timescale").count == 0, 10)
    await asyncio.to_thread(pg, pg_url, "DELETE FROM sensor_data WHERE value::int % 5 = 0 "
                                        "RETURNING 1")
    assert await asyncio.to_thread(pg_count, pg_url, "sensor_data") == 480
    gaps = await run_sync(cfg)  # what `spark bridge sync` runs
    assert {g.kind for g in gaps} == {"sensor"}  # (two gaps if the test straddles an hour)
    assert (sum(g.delivered for g in gaps), sum(g.found for g in gaps)) == (600, 480)
    assert pg(pg_url, "SELECT count(*), count(DISTINCT record_key) FROM sensor_data") == [
        (600, 600)]
    assert await run_sync(cfg) == []


async def deliver(cfg: BridgeSettings, records: list[Record]) -> None:
    """Through the outbox and a pump, as the bridge does, until the backlog is empty."""
    factory = sink_factories(cfg)["kafka"]
    with Outbox(cfg.bridges.outbox, ["kafka"]).open() as box:
        box.append(records)
        async with asyncio.timeout(60):
            await make_pump(cfg, "kafka", factory, box).run(until_idle=True)


async def test_sync_resends_what_kafka_lost(kafka: TansuProcess, tmp_path: Path) -> None:
    """Kafka acknowledged a first part and then lost it (in-memory Tansu restarted: the cloud
    cluster came back empty); a second part arrives. `spark bridge sync` reads the last
    reconcile_hours of the topics back, finds each (kind, hour) short by the first part,
    re-sends those hours, and every record of them is on Kafka again: exact distinct counts,
    and a second sync finds no gap."""
    cfg = SparkConfig.model_validate({"bridges": {
        "outbox": {"path": str(tmp_path / "outbox")}, "backoff_max": 0.5,
        "sinks": [{"type": "kafka", "bootstrap_servers": kafka.bootstrap,
                   "delivery_timeout": 3, "connect_timeout": 3}]}}).bridge_settings()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = (hour - timedelta(hours=1), hour)  # Kafka's reconcile_hours (2): checked
    lost = [r for h in hours for r in hourly("lost", h, 20)]  # 20 per kind and hour
    kept = [r for h in hours for r in hourly("kept", h, 10)]
    older = hourly("older", hour - timedelta(hours=3), 4)  # kept by the outbox, not checked
    await deliver(cfg, [*older, *lost])
    await asyncio.to_thread(kafka.stop)
    await asyncio.to_thread(kafka.start)
    await deliver(cfg, kept)

    gaps = await run_sync(cfg)  # what `spark bridge sync` runs
    assert {(g.sink, g.kind, g.hour): (g.delivered, g.found, g.resent) for g in gaps} == {
        ("kafka", kind, h): (30, 10, 30) for kind, h in cells([*lost, *kept])}
    assert len(gaps) == 10  # 5 kinds x 2 hours; the older hour is left alone
    for kind, topic in KAFKA_TOPICS.items():
        got = await asyncio.to_thread(read_topic, kafka.bootstrap, topic, at_least=80)
        keys = {g.headers[IDEMPOTENCY_HEADER] for g in got}
        assert keys == {r.key.encode() for r in [*lost, *kept] if r.kind == kind}, kind
        assert len(got) >= 80  # the kept part twice (re-sent with its hour), dropped by key
    async with KafkaSink(cfg.bridges.sinks[0]) as sink:  # type: ignore[arg-type]
        assert await sink.counts_per_hour(hours[0].timestamp(),
                                          hours[1].timestamp() + 3600) == cells([*lost, *kept])
    assert await run_sync(cfg) == []
