"""The cloud tables (the seed's schema) and the plain-PostgreSQL rollup / purge functions.

Every raw table has ``record_key`` (the record's idempotency key) and a unique index on
``(record_key, time)``: a replayed record is dropped by the merge, and TimescaleDB accepts the
index because it contains the partitioning column. ``hourly_device_metrics`` is a continuous
aggregate on TimescaleDB (see :mod:`.hypertables`) and a table kept by
``spark_refresh_hourly_device_metrics`` on plain PostgreSQL; both have the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, SQL type) in COPY order; time first, key last
    chunk_interval: str  # TimescaleDB chunk_time_interval
    query_indexes: tuple[str, ...]  # column lists of the non-unique indexes

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def copy_types(self) -> list[str]:
        return [sql.split()[0] for _, sql in self.columns]

    @property
    def column_list(self) -> str:
        return ", ".join(self.column_names)


DEVICE_METRICS = Table(
    "device_metrics",
    (("time", "timestamptz NOT NULL"), ("device_id", "text NOT NULL"),
     ("metric_name", "text NOT NULL"), ("value", "float8 NOT NULL"),
     ("record_key", "text NOT NULL")),
    "1 day",
    ("device_id, time DESC",),
)
SENSOR_DATA = Table(
    "sensor_data",
    (("time", "timestamptz NOT NULL"), ("device_id", "text NOT NULL"),
     ("sensor_id", "text NOT NULL"), ("value", "float8 NULL"), ("state", "text NULL"),
     ("unit", "text NULL"), ("attributes", "jsonb NOT NULL"), ("record_key", "text NOT NULL")),
    "1 hour",
    ("device_id, time DESC", "sensor_id, time DESC"),
)
# ai_inference_results' LLM columns (migration 4 adds them to older databases); NULL on vision rows
LLM_INFERENCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tier", "text NULL"), ("cached", "bool NULL"), ("input_tokens", "int4 NULL"),
    ("output_tokens", "int4 NULL"), ("backend", "text NULL"), ("ttft_ms", "float8 NULL"))
AI_INFERENCE_RESULTS = Table(
    "ai_inference_results",
    (("time", "timestamptz NOT NULL"), ("device_id", "text NOT NULL"),
     ("model_name", "text NOT NULL"), ("latency_ms", "float8 NOT NULL"),
     ("counts", "jsonb NOT NULL"), ("detections", "jsonb NOT NULL"),
     *LLM_INFERENCE_COLUMNS,
     ("record_key", "text NOT NULL")),
    "1 day",
    ("device_id, time DESC",),
)
ANALYTICS_EVENTS = Table(
    "analytics_events",
    (("time", "timestamptz NOT NULL"), ("device_id", "text NOT NULL"),
     ("event_type", "text NOT NULL"), ("source", "text NOT NULL"), ("data", "jsonb NOT NULL"),
     ("record_key", "text NOT NULL")),
    "1 day",
    ("device_id, time DESC", "event_type, time DESC"),
)
TABLES: tuple[Table, ...] = (DEVICE_METRICS, SENSOR_DATA, AI_INFERENCE_RESULTS, ANALYTICS_EVENTS)
TABLE_OF_KIND: dict[str, Table] = {
    "metric": DEVICE_METRICS,
    "sensor": SENSOR_DATA,
    "inference": AI_INFERENCE_RESULTS,
    "event": ANALYTICS_EVENTS,
    "health": ANALYTICS_EVENTS,  # event_type 'health.<status>'
}
# Health records are analytics_events rows with event_type 'health.<status>' (source: the device);
# reconciliation counts them apart by this prefix, so other events must not use it.
HEALTH_EVENT_PREFIX = "health."
ROLLUP = "hourly_device_metrics"
PENDING = "spark_rollup_pending"  # plain PostgreSQL: time ranges written since the last rollup


def _index_name(table: str, columns: str) -> str:
    cols = [c.split()[0] for c in columns.split(",")]
    return f"{table}_{'_'.join(cols)}_idx"


def table_statements(table: Table) -> list[str]:
    """CREATE TABLE + the dedupe and query indexes, all idempotent."""
    cols = ",\n  ".join(f"{name} {sql}" for name, sql in table.columns)
    out = [
        f"CREATE TABLE IF NOT EXISTS {table.name} (\n  {cols}\n)",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {table.name}_record_key_time_idx "
        f"ON {table.name} (record_key, time)",
    ]
    out += [
        f"CREATE INDEX IF NOT EXISTS {_index_name(table.name, c)} ON {table.name} ({c})"
        for c in table.query_indexes
    ]
    return out


def tables_migration() -> list[str]:
    return [s for t in TABLES for s in table_statements(t)]


def llm_inference_migration() -> list[str]:
    """The LLM columns of ``ai_inference_results`` (tier, cached, tokens, backend, time to
    first token) on a database made before them; a no-op on a new one (step 1 made them).
    Nullable, no default: NULL on vision rows, and TimescaleDB adds such a column to compressed
    chunks without rewriting them."""
    return [f"ALTER TABLE {AI_INFERENCE_RESULTS.name} ADD COLUMN IF NOT EXISTS {name} {sql}"
            for name, sql in LLM_INFERENCE_COLUMNS]


# Plain PostgreSQL: what the hypertables, the continuous aggregate and the policies would do.
# BRIN on time: tiny, cheap to maintain on append-mostly rows, and enough for the purge and for
# time-range scans (TimescaleDB gets its per-chunk time index from create_hypertable instead).
ROLLUP_TABLE = f"""CREATE TABLE IF NOT EXISTS {ROLLUP} (
  bucket timestamptz NOT NULL,
  device_id text NOT NULL,
  metric_name text NOT NULL,
  avg_value float8 NOT NULL,
  min_value float8 NOT NULL,
  max_value float8 NOT NULL,
  sample_count bigint NOT NULL,
  PRIMARY KEY (device_id, metric_name, bucket)
)"""
ROLLUP_BUCKET_INDEX = f"CREATE INDEX IF NOT EXISTS {ROLLUP}_bucket_idx ON {ROLLUP} (bucket)"

# Recomputes every UTC hour touching [since, until) from the raw rows and upserts it; rows that
# did not change are not rewritten. Returns the number of buckets written.
REFRESH_FUNCTION = f"""CREATE OR REPLACE FUNCTION spark_refresh_{ROLLUP}(
  since timestamptz, until timestamptz DEFAULT 'infinity') RETURNS bigint
LANGUAGE sql AS $$
  WITH fresh AS (
    SELECT date_trunc('hour', time, 'UTC') AS bucket, device_id, metric_name,
           avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value,
           count(*) AS sample_count
      FROM device_metrics
     WHERE time >= date_trunc('hour', since, 'UTC')
       AND time < CASE WHEN until = 'infinity' THEN until
                       ELSE date_trunc('hour', until - interval '1 microsecond', 'UTC')
                            + interval '1 hour' END
     GROUP BY 1, 2, 3
  ), written AS (
    INSERT INTO {ROLLUP} AS h
    SELECT * FROM fresh
    ON CONFLICT (device_id, metric_name, bucket) DO UPDATE
       SET avg_value = excluded.avg_value, min_value = excluded.min_value,
           max_value = excluded.max_value, sample_count = excluded.sample_count
     WHERE (h.avg_value, h.min_value, h.max_value, h.sample_count)
           IS DISTINCT FROM (excluded.avg_value, excluded.min_value, excluded.max_value,
                             excluded.sample_count)
    RETURNING 1
  )
  SELECT count(*) FROM written
$$"""

# Each batch with metrics records its time range in PENDING (same transaction as the rows); the
# job takes every range recorded so far and refreshes from the oldest to the newest. A range
# written while it runs stays for the next run, so nothing is missed across restarts.
PENDING_TABLE = f"""CREATE TABLE IF NOT EXISTS {PENDING} (
  since timestamptz NOT NULL,
  until timestamptz NOT NULL
)"""
REFRESH_PENDING_FUNCTION = f"""CREATE OR REPLACE FUNCTION spark_refresh_pending() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz; hi timestamptz;
BEGIN
  WITH taken AS (DELETE FROM {PENDING} RETURNING since, until)
  SELECT min(since), max(until) INTO lo, hi FROM taken;
  IF lo IS NULL THEN
    RETURN 0;
  END IF;
  RETURN spark_refresh_{ROLLUP}(lo, hi + interval '1 microsecond');
END
$$"""

# Deletes raw rows older than raw_keep and hourly rows older than rollup_keep (what
# add_retention_policy does, row by row instead of chunk by chunk). Returns rows deleted.
PURGE_FUNCTION = f"""CREATE OR REPLACE FUNCTION spark_purge(
  raw_keep interval, rollup_keep interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n bigint; total bigint := 0; t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[{", ".join(f"'{t.name}'" for t in TABLES)}] LOOP
    EXECUTE format('DELETE FROM %I WHERE time < now() - $1', t) USING raw_keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
  END LOOP;
  DELETE FROM {ROLLUP} WHERE bucket < now() - rollup_keep;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN total + n;
END
$$"""


def plain_migration() -> list[str]:
    return [
        *(f"CREATE INDEX IF NOT EXISTS {t.name}_time_brin ON {t.name} USING brin (time)"
          for t in TABLES),
        ROLLUP_TABLE,
        ROLLUP_BUCKET_INDEX,
        REFRESH_FUNCTION,
        PENDING_TABLE,
        REFRESH_PENDING_FUNCTION,
        PURGE_FUNCTION,
    ]
