"""TimescaleDB 2.x statements: hypertables, the hourly continuous aggregate, retention and
compression policies.

Written against the documented 2.x API, checked for 2.0 - 2.23:

* ``create_hypertable(relation, by_range('time', <interval>), if_not_exists, migrate_data)``,
  the generalised form of 2.13+; older servers get the pre-2.13 form
  ``create_hypertable(relation, 'time', chunk_time_interval => ...)`` (deprecated since 2.13,
  still accepted). Every unique index must contain the partitioning column: the dedupe key is
  ``(record_key, time)`` (see :mod:`.schema`).
* The continuous aggregate is created ``WITH NO DATA`` (``WITH DATA`` refuses to run in a
  transaction block, and everything here runs inside the migration transaction) and its refresh
  policy fills it. ``materialized_only = false`` (real-time aggregation; the default flipped to
  materialized-only in 2.13) so the latest hour shows, as in the plain-PostgreSQL rollup table.
* Compression uses the 2.x names (``timescaledb.compress``, ``compress_segmentby`` /
  ``compress_orderby``, ``add_compression_policy``): deprecated in 2.18 in favour of the
  columnstore names but supported until 3.0, and the only ones before 2.18. It orders by
  ``time DESC, record_key`` so the dedupe index's columns are all segment-by or order-by
  columns (TimescaleDB warns otherwise and its unique checks on compressed chunks are slower).
* Every policy call passes ``if_not_exists => TRUE``; the step as a whole runs once (recorded in
  ``schema_migrations``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.bridges.sinks.timescale.schema import DEVICE_METRICS, ROLLUP, TABLES, Table

EXTENSION = "CREATE EXTENSION IF NOT EXISTS timescaledb"
AVAILABLE = (
    "SELECT default_version, installed_version FROM pg_available_extensions "
    "WHERE name = 'timescaledb'"
)
INSTALLED = "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"


def interval(seconds: float) -> str:
    """``INTERVAL '30 days'`` / ``'2 hours'`` / ``'90 seconds'``: the largest exact unit."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"INTERVAL '{n} {unit}{'s' if n != 1 else ''}'"
    return f"INTERVAL '{seconds:g} seconds'"


Version = tuple[int, int]
BY_RANGE = (2, 13)  # create_hypertable(relation, by_range(...)) from this version on
OLDEST = (2, 0)


def parse_version(text: str) -> Version:
    """``'2.23.1'`` -> ``(2, 23)``; anything unreadable counts as the oldest 2.x."""
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return OLDEST


def hypertable(table: Table, version: Version = BY_RANGE) -> str:
    if version >= BY_RANGE:
        return (
            f"SELECT create_hypertable('{table.name}', "
            f"by_range('time', INTERVAL '{table.chunk_interval}'), "
            f"if_not_exists => TRUE, migrate_data => TRUE)"
        )
    return (
        f"SELECT create_hypertable('{table.name}', 'time', "
        f"chunk_time_interval => INTERVAL '{table.chunk_interval}', "
        f"if_not_exists => TRUE, migrate_data => TRUE)"
    )


def continuous_aggregate() -> str:
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {ROLLUP}\n"
        f"WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS\n"
        f"SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, device_id, metric_name,\n"
        f"       avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value,\n"
        f"       count(*) AS sample_count\n"
        f"  FROM {DEVICE_METRICS.name}\n"
        f" GROUP BY bucket, device_id, metric_name\n"
        f"WITH NO DATA"
    )


def refresh_policy(cfg: TimescaleSinkConfig) -> str:
    schedule = cfg.maintenance_seconds or 3600
    return (
        f"SELECT add_continuous_aggregate_policy('{ROLLUP}', "
        f"start_offset => {interval(cfg.rollup_lookback_hours * 3600)}, "
        f"end_offset => INTERVAL '1 hour', "
        f"schedule_interval => {interval(schedule)}, if_not_exists => TRUE)"
    )


def compression(table: Table) -> str:
    return (
        f"ALTER TABLE {table.name} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = 'device_id', "
        f"timescaledb.compress_orderby = 'time DESC, record_key')"
    )


def compression_policy(table: Table, cfg: TimescaleSinkConfig) -> str:
    return (
        f"SELECT add_compression_policy('{table.name}', "
        f"compress_after => {interval(cfg.compress_after_days * 86400)}, if_not_exists => TRUE)"
    )


def retention_policy(relation: str, days: float) -> str:
    return (
        f"SELECT add_retention_policy('{relation}', "
        f"drop_after => {interval(days * 86400)}, if_not_exists => TRUE)"
    )


def timescale_migration(cfg: TimescaleSinkConfig, version: Version = BY_RANGE) -> list[str]:
    """Everything after the tables exist, in order, for the server's extension ``version``;
    each statement is idempotent."""
    out = [hypertable(t, version) for t in TABLES]
    out += [continuous_aggregate(), refresh_policy(cfg)]
    for t in TABLES:
        out += [compression(t), compression_policy(t, cfg)]
    out += [retention_policy(t.name, cfg.retention_days) for t in TABLES]
    out.append(retention_policy(ROLLUP, cfg.aggregate_retention_days))
    return out


def refresh_call() -> str:
    """Refresh the aggregate over ``[%s, %s)`` (outside any transaction block). Always with an
    end: with NULL the current, still-filling hour is materialised, which moves the
    watermark past it, and real-time aggregation then no longer adds the rows that arrive in
    it (the hour freezes until the next refresh)."""
    return f"CALL refresh_continuous_aggregate('{ROLLUP}', %s, %s)"


def refresh_window(since: datetime, now: datetime) -> tuple[datetime, datetime] | None:
    """``[hour of since, start of the current hour)``: whole buckets only, as the refresh
    policy (``end_offset`` one hour) does; None when that holds no whole hour."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return (start, end) if start < end else None
