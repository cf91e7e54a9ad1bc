"""TimescaleDB / PostgreSQL sink against a real (throwaway) PostgreSQL; TimescaleDB SQL as text.

The plain-PostgreSQL path runs for real here; the TimescaleDB path cannot (the extension is not
installable on this machine), so its statements are checked against the documented 2.x API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from helpers import wait_for
from pg_fixture import PgCluster

from spark.bridges.sinks.base import SinkError, sink_class
from spark.bridges.sinks.timescale import hypertables, schema
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.bridges.sinks.timescale.migrate import MIGRATIONS
from spark.bridges.sinks.timescale.schema import TABLES
from spark.bridges.sinks.timescale.sink import TimescaleSink
from spark.core.link import LinkState
from spark.core.messages.records import (
    EventRecord,
    HealthRecord,
    InferenceRecord,
    MetricRecord,
    Record,
    SensorRecord,
)

T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


def cfg(url: str, **kw: object) -> TimescaleSinkConfig:
    return TimescaleSinkConfig.model_validate({"url": url, "maintenance_seconds": 0, **kw})


def metrics(n: int, start: int = 0, t0: datetime = T0, step: float = 0.001) -> list[Record]:
    return [MetricRecord(key=f"hub:m:{i}", device_id=f"pi{i % 3}", metric_name="cpu_percent",
                         time=t0 + timedelta(seconds=i * step), value=float(i))
            for i in range(start, start + n)]


def one_of_each(t: datetime = T0) -> list[Record]:
    return [
        MetricRecord(key="m1", device_id="pi5", time=t, metric_name="load_1", value=0.25),
        SensorRecord(key="s1", device_id="weather", time=t, sensor_id="sensor.temp", value=21.5,
                     state="21.5", unit="°C", attributes={"friendly_name": "Temp"}),
        SensorRecord(key="s2", device_id="door", time=t, sensor_id="binary_sensor.door",
                     state="on"),
        InferenceRecord(key="i1", device_id="cam1", time=t, model_name="yolov8n", latency_ms=12.5,
                        counts={"person": 2}, detections=[{"label": "person", "score": 0.9}]),
        EventRecord(key="e1", device_id="door", time=t, event_type="doorbell",
                    source="binary_sensor.bell", data={"pressed": True}),
        HealthRecord(key="h1", device_id="pi5", time=t, status="degraded",
                     details={"outbox_backlog": 12}),
    ]


MakeSink = Callable[..., Awaitable[TimescaleSink]]


@pytest.fixture
async def make_sink() -> AsyncIterator[MakeSink]:
    """Opens sinks (``make_sink(url, **config)``) and closes them after the test, pass or fail."""
    made: list[TimescaleSink] = []

    async def make(url: str, **kw: object) -> TimescaleSink:
        sink = TimescaleSink(cfg(url, **kw))
        made.append(sink)
        await sink.open()
        return sink

    yield make
    for sink in made:
        await sink.close()


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def count(url: str, table: str) -> int:
    return int(rows(url, f"SELECT count(*) FROM {table}")[0][0])


# ---- config and TimescaleDB statements (text) -------------------------------------------------
def test_config_needs_exactly_one_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of url or url_file"):
        TimescaleSinkConfig()
    f = tmp_path / "url"
    f.write_text("postgresql://x@db/edge\n")
    assert TimescaleSinkConfig(url_file=f).dsn() == "postgresql://x@db/edge"
    with pytest.raises(ValueError, match="below retention_days"):
        TimescaleSinkConfig(url="postgresql://x", retention_days=7, rollup_lookback_hours=192)


def test_registered_under_its_type() -> None:
    assert sink_class("timescale") is TimescaleSink


def test_timescale_statements_follow_the_2x_api() -> None:
    sql = hypertables.timescale_migration(TimescaleSinkConfig(url="postgresql://x"))
    assert sql[:4] == [
        "SELECT create_hypertable('device_metrics', by_range('time', INTERVAL '1 day'), "
        "if_not_exists => TRUE, migrate_data => TRUE)",
        "SELECT create_hypertable('sensor_data', by_range('time', INTERVAL '1 hour'), "
        "if_not_exists => TRUE, migrate_data => TRUE)",
        "SELECT create_hypertable('ai_inference_results', by_range('time', INTERVAL '1 day'), "
        "if_not_exists => TRUE, migrate_data => TRUE)",
        "SELECT create_hypertable('analytics_events', by_range('time', INTERVAL '1 day'), "
        "if_not_exists => TRUE, migrate_data => TRUE)",
    ]
    cagg = sql[4]
    assert cagg.startswith("CREATE MATERIALIZED VIEW IF NOT EXISTS hourly_device_metrics\n"
                           "WITH (timescaledb.continuous, timescaledb.materialized_only = "
                           "false) AS\n")
    assert "time_bucket(INTERVAL '1 hour', time) AS bucket" in cagg
    for agg in ("avg(value) AS avg_value", "min(value) AS min_value", "max(value) AS max_value",
                "count(*) AS sample_count"):
        assert agg in cagg
    assert "GROUP BY bucket, device_id, metric_name" in cagg
    assert cagg.endswith("WITH NO DATA")  # WITH DATA cannot run inside the migration tx
    assert sql[5] == (
        "SELECT add_continuous_aggregate_policy('hourly_device_metrics', "
        "start_offset => INTERVAL '8 days', end_offset => INTERVAL '1 hour', "
        "schedule_interval => INTERVAL '15 minutes', if_not_exists => TRUE)")
    assert sql[6:8] == [
        "ALTER TABLE device_metrics SET (timescaledb.compress, timescaledb.compress_segmentby "
        "= 'device_id', timescaledb.compress_orderby = 'time DESC, record_key')",
        "SELECT add_compression_policy('device_metrics', compress_after => INTERVAL '7 days', "
        "if_not_exists => TRUE)",
    ]
    assert sum("timescaledb.compress," in s for s in sql) == 4
    assert sql[-5:] == [
        *(f"SELECT add_retention_policy('{t}', drop_after => INTERVAL '30 days', "
          f"if_not_exists => TRUE)"
          for t in ("device_metrics", "sensor_data", "ai_inference_results", "analytics_events")),
        "SELECT add_retention_policy('hourly_device_metrics', drop_after => INTERVAL '365 days', "
        "if_not_exists => TRUE)",
    ]
    assert hypertables.refresh_call() == (
        "CALL refresh_continuous_aggregate('hourly_device_metrics', %s, %s)")


def test_the_timescale_refresh_window_has_an_end_before_the_current_hour() -> None:
    now = datetime(2026, 12, 7, 10, 42, 5, tzinfo=UTC)
    assert hypertables.refresh_window(datetime(2026, 12, 7, 7, 30, tzinfo=UTC), now) == (
        datetime(2026, 12, 7, 7, tzinfo=UTC), datetime(2026, 12, 7, 10, tzinfo=UTC))
    assert hypertables.refresh_window(now - timedelta(minutes=5), now) is None  # no whole hour


async def test_the_timescale_refresh_passes_a_start_and_an_end(pg_url: str) -> None:
    """The TimescaleDB path of ``refresh_rollup`` on plain PostgreSQL: a stand-in
    ``refresh_continuous_aggregate`` procedure records the window it is called with."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE refreshed (view text, since timestamptz, until timestamptz)")
        conn.execute("""CREATE PROCEDURE refresh_continuous_aggregate(
                          view text, since timestamptz, until timestamptz)
                        LANGUAGE sql AS $$ INSERT INTO refreshed VALUES (view, since, until) $$""")
    sink = TimescaleSink(cfg(pg_url, rollup_lookback_hours=48))
    sink.flavour = "timescale"  # as read from a TimescaleDB database's migration ledger
    assert await sink.refresh_rollup() == 0
    assert await sink.refresh_rollup(since=T0) == 0
    assert await sink.refresh_rollup(since=datetime.now(UTC)) == 0  # no whole hour: no call
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    got = rows(pg_url, "SELECT * FROM refreshed")
    assert len(got) == 2
    assert all(view == "hourly_device_metrics" and until in (hour, hour + timedelta(hours=1))
               for view, _since, until in got)  # (the test may straddle an hour)
    assert got[1][1] == T0
    assert timedelta(hours=47) <= got[0][2] - got[0][1] <= timedelta(hours=49)


def test_timescale_before_2_13_gets_the_old_create_hypertable() -> None:
    assert [hypertables.parse_version(v) for v in ("2.23.1", "2.9.3-dev", "?")] == [
        (2, 23), (2, 9), hypertables.OLDEST]
    c = TimescaleSinkConfig(url="postgresql://x")
    old, new = hypertables.timescale_migration(c, (2, 12)), hypertables.timescale_migration(c)
    assert old[1] == ("SELECT create_hypertable('sensor_data', 'time', chunk_time_interval => "
                      "INTERVAL '1 hour', if_not_exists => TRUE, migrate_data => TRUE)")
    assert old[4:] == new[4:] and hypertables.timescale_migration(c, (2, 23)) == new


def test_unique_indexes_contain_the_partitioning_column() -> None:
    """TimescaleDB refuses a unique index without the time column on a hypertable."""
    unique = [s for t in TABLES for s in schema.table_statements(t) if " UNIQUE " in s]
    assert [s.rsplit("(", 1)[1] for s in unique] == ["record_key, time)"] * len(TABLES)


def test_timescale_statements_take_the_config() -> None:
    c = TimescaleSinkConfig(url="postgresql://x", retention_days=14, compress_after_days=2,
                            aggregate_retention_days=730, rollup_lookback_hours=36,
                            maintenance_seconds=600)
    sql = "\n".join(hypertables.timescale_migration(c))
    assert "start_offset => INTERVAL '36 hours'" in sql
    assert "schedule_interval => INTERVAL '10 minutes'" in sql
    assert "compress_after => INTERVAL '2 days'" in sql
    assert "drop_after => INTERVAL '14 days'" in sql
    assert "'hourly_device_metrics', drop_after => INTERVAL '730 days'" in sql
    assert hypertables.interval(90.5) == "INTERVAL '90.5 seconds'"
    assert hypertables.interval(3600) == "INTERVAL '1 hour'"


def test_migration_steps_are_ordered_and_unique() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


# ---- migrations on plain PostgreSQL ------------------------------------------------------------
async def test_migrations_idempotent_and_concurrent(pg_url: str) -> None:
    sinks = [TimescaleSink(cfg(pg_url)) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in sinks))  # racing sinks: the advisory lock orders
    assert {s.flavour for s in sinks} == {"plain"}
    for s in sinks:
        await s.close()
    again = TimescaleSink(cfg(pg_url))
    await again.open()
    await again.close()
    assert rows(pg_url, "SELECT version, name FROM schema_migrations ORDER BY 1") == [
        (1, "tables"), (2, "plain_rollup"), (4, "llm_inference_columns")]
    indexes = {r[0] for r in rows(pg_url, "SELECT indexname FROM pg_indexes "
                                          "WHERE schemaname = 'public'")}
    for t in ("device_metrics", "sensor_data", "ai_inference_results", "analytics_events"):
        assert f"{t}_record_key_time_idx" in indexes
        assert f"{t}_device_id_time_idx" in indexes
    assert count(pg_url, "hourly_device_metrics") == 0


async def test_require_timescaledb_on_plain_postgres_fails(pg_url: str) -> None:
    """The throwaway cluster never preloads timescaledb: this machine has its files or not
    (each case exactly: tests/test_bridge_timescale_migrate.py)."""
    sink = TimescaleSink(cfg(pg_url, timescaledb="require"))
    with pytest.raises(SinkError, match=r"no timescaledb extension|shared_preload_libraries"):
        await sink.open()
    await sink.close()


# ---- writing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("staging", ["on-conflict", "always"])
async def test_every_kind_lands_in_its_table(
        pg_url: str, staging: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url, staging=staging)
    await sink.write(one_of_each())
    await sink.close()
    assert rows(pg_url, "SELECT time, device_id, metric_name, value, record_key "
                        "FROM device_metrics") == [(T0, "pi5", "load_1", 0.25, "m1")]
    assert rows(pg_url, "SELECT time, device_id, sensor_id, value, state, unit, attributes, "
                        "record_key FROM sensor_data ORDER BY record_key") == [
        (T0, "weather", "sensor.temp", 21.5, "21.5", "°C", {"friendly_name": "Temp"}, "s1"),
        (T0, "door", "binary_sensor.door", None, "on", None, {}, "s2"),
    ]
    assert rows(pg_url, "SELECT time, device_id, model_name, latency_ms, counts, detections, "
                        "record_key FROM ai_inference_results") == [
        (T0, "cam1", "yolov8n", 12.5, {"person": 2}, [{"label": "person", "score": 0.9}], "i1")]
    assert rows(pg_url, "SELECT time, device_id, event_type, source, data, record_key "
                        "FROM analytics_events ORDER BY record_key") == [
        (T0, "door", "doorbell", "binary_sensor.bell", {"pressed": True}, "e1"),
        (T0, "pi5", "health.degraded", "pi5", {"outbox_backlog": 12}, "h1"),
    ]


@pytest.mark.parametrize("staging", ["on-conflict", "always"])
async def test_replayed_batches_add_no_duplicates(
        pg_url: str, staging: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url, staging=staging)
    first = metrics(1000) + one_of_each()
    await sink.write(first)
    await sink.write(first)  # full replay
    await sink.write(metrics(1000, start=500))  # half old, half new
    dup = metrics(10, start=5000)
    await sink.write(dup + dup)  # duplicates inside one batch
    await sink.close()
    assert count(pg_url, "device_metrics") == 1500 + 1 + 10
    assert count(pg_url, "sensor_data") == 2
    assert count(pg_url, "analytics_events") == 2
    assert sink.stats.rows_written == 1500 + 6 + 10
    assert sink.stats.duplicates == len(first) + 500 + 10


async def test_large_batch_is_copied_in_bounded_transactions(
        pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url, batch_rows=10_000)
    await sink.write(metrics(50_000))
    await sink.close()
    assert sink.stats.batches == 5
    assert rows(pg_url, "SELECT count(*), count(DISTINCT record_key), sum(value) "
                        "FROM device_metrics") == [(50_000, 50_000, sum(range(50_000)))]


async def test_odd_values_are_cleaned_and_refused_records_dropped_alone(
        pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the server refuses one record
        conn.execute("ALTER TABLE device_metrics ADD CONSTRAINT sane CHECK (value < 1e6)")
    naive = T0.replace(tzinfo=None)
    batch = [
        *metrics(6),
        SensorRecord(key="odd", device_id="dev\x00ice", time=naive, sensor_id="sensor.x",
                     state="a\x00b", attributes={"k\x00": ["v\x00"], "big": 2**70,
                                                  "nan": float("nan")}),
        MetricRecord(key="refused", device_id="pi0", time=T0, metric_name="m", value=1e9),
        *metrics(4, start=100),
    ]
    await sink.write(batch)
    await sink.close()
    assert sink.stats.rejected == 1  # found by halving the batch; the rest is delivered
    assert count(pg_url, "device_metrics") == 10
    assert rows(pg_url, "SELECT time, device_id, state, attributes FROM sensor_data") == [
        (T0, "device", "ab", {"k": ["v"], "big": 2**70, "nan": None})]


async def test_counts_per_hour(pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url)
    await sink.write(metrics(7, step=900) + one_of_each(T0 + timedelta(hours=1)))
    h0 = int(T0.timestamp())
    counts = await sink.counts_per_hour(h0, h0 + 7200)
    assert counts == {("metric", h0): 4, ("metric", h0 + 3600): 3 + 1, ("sensor", h0 + 3600): 2,
                      ("inference", h0 + 3600): 1, ("event", h0 + 3600): 1,
                      ("health", h0 + 3600): 1}
    assert await sink.counts_per_hour(h0 + 1, h0 + 3600) == {("metric", h0): 3}
    await sink.close()


async def test_a_stuck_batch_times_out_then_goes_through(pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url, write_timeout=0.5)
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE device_metrics IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(SinkError, match="not written"):
            await sink.write(metrics(10))
        assert sink.state is LinkState.DOWN
    await sink.write(metrics(10))  # lock released: reconnects and writes
    await sink.close()
    assert count(pg_url, "device_metrics") == 10


# ---- the server going away ----------------------------------------------------------------------
async def test_postgres_down_then_back(fresh_postgres: PgCluster, make_sink: MakeSink) -> None:
    url = await asyncio.to_thread(fresh_postgres.create_database)
    sink = await make_sink(url)
    await sink.write(metrics(100))
    await asyncio.to_thread(fresh_postgres.stop)
    with pytest.raises(SinkError):
        await sink.write(metrics(100, start=100))
    assert sink.state is LinkState.DOWN
    with pytest.raises(SinkError):
        await TimescaleSink(cfg(url)).open()
    await asyncio.to_thread(fresh_postgres.start)
    await sink.write(metrics(100, start=100))
    await sink.close()
    assert count(url, "device_metrics") == 200


async def test_restart_mid_stream_loses_and_duplicates_nothing(
        fresh_postgres: PgCluster, make_sink: MakeSink) -> None:
    """A pump-like writer retries each batch until it is taken while PostgreSQL restarts; each
    write spans two transactions, so a retried batch is often half there already."""
    url = await asyncio.to_thread(fresh_postgres.create_database)
    sink = await make_sink(url, batch_rows=500)
    done: list[int] = []
    failures: list[SinkError] = []
    back, enough = asyncio.Event(), asyncio.Event()

    async def pump() -> None:
        i = 0
        while not enough.is_set():
            try:
                await sink.write(metrics(1000, start=i * 1000))
            except SinkError as exc:
                failures.append(exc)
                async with asyncio.timeout(30):
                    await back.wait()  # the real pump backs off and retries
                continue
            done.append(i)
            i += 1

    task = asyncio.create_task(pump())
    await wait_for(lambda: len(done) >= 5, timeout=30, what="first batches written")
    await asyncio.to_thread(fresh_postgres.stop)
    await wait_for(lambda: bool(failures), timeout=30, what="a write failing while PG is down")
    await asyncio.to_thread(fresh_postgres.start)
    back.set()
    resumed = len(done)
    await wait_for(lambda: len(done) >= resumed + 5, timeout=30, what="writes after restart")
    enough.set()
    await asyncio.wait_for(task, timeout=30)
    await sink.close()
    n = len(done) * 1000
    assert rows(url, "SELECT count(*), count(DISTINCT record_key) FROM device_metrics") == [
        (n, n)]


# ---- rollup and retention on plain PostgreSQL ------------------------------------------------
async def test_rollup_matches_what_the_continuous_aggregate_would_hold(
        pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url)
    # 3 hours, 4 readings an hour per device
    await sink.write(metrics(36, step=900 / 3))
    assert await sink.refresh_rollup() > 0  # the hours written since the last run
    expected = rows(pg_url, """
        SELECT date_trunc('hour', time, 'UTC'), device_id, metric_name, avg(value), min(value),
               max(value), count(*)
          FROM device_metrics GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""")
    got = rows(pg_url, "SELECT * FROM hourly_device_metrics ORDER BY 1, 2, 3")
    assert got == expected and len(got) == 9
    assert await sink.refresh_rollup() == 0  # nothing new

    late = MetricRecord(key="late", device_id="pi0", metric_name="cpu_percent", time=T0,
                        value=1000.0)
    await sink.write([late])
    assert await sink.refresh_rollup() == 1  # only the hour that changed is rewritten
    assert rows(pg_url, "SELECT max_value, sample_count FROM hourly_device_metrics "
                        f"WHERE device_id = 'pi0' AND bucket = '{T0.isoformat()}'") == [(1000.0, 5)]
    assert await sink.refresh_rollup(since=T0) == 0  # explicit window: already current
    await sink.close()


async def test_maintenance_job_keeps_the_rollup_current(pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url, maintenance_seconds=0.05)
    await sink.write(metrics(30, step=60))

    def rolled_up(n: int) -> bool:
        return rows(pg_url, "SELECT sum(sample_count) FROM hourly_device_metrics") == [(n,)]

    await wait_for(lambda: rolled_up(30), timeout=10, what="the job rolled the rows up")
    await sink.write(metrics(5, start=30, step=60))
    await wait_for(lambda: rolled_up(35), timeout=10, what="the job saw the new rows")
    await sink.close()
    assert count(pg_url, "spark_rollup_pending") == 0


async def test_retention_purge(pg_url: str, make_sink: MakeSink) -> None:
    sink = await make_sink(pg_url, retention_days=20, rollup_lookback_hours=24)
    now = datetime.now(UTC)
    await sink.write(metrics(5, t0=now - timedelta(days=21)) + one_of_each(now - timedelta(days=25))
                     + metrics(5, start=10, t0=now - timedelta(days=1)) + one_of_each(now))
    await sink.refresh_rollup(since=now - timedelta(days=30))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO hourly_device_metrics VALUES "
                     "(now() - interval '400 days', 'old', 'x', 1, 1, 1, 1), "
                     "(now() - interval '300 days', 'kept', 'x', 1, 1, 1, 1)")
    assert await sink.purge() == 5 + 6 + 1  # raw: 5 metrics + one of each; hourly: 1
    await sink.close()
    assert count(pg_url, "device_metrics") == 6
    assert count(pg_url, "sensor_data") == 2
    assert count(pg_url, "analytics_events") == 2
    assert {r[0] for r in rows(pg_url, "SELECT device_id FROM hourly_device_metrics")} == {
        "pi0", "pi1", "pi2", "pi5", "kept"}
