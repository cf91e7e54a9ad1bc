"""TimescaleDB 2.x statements: hypertables, the hourly continuous aggregate, retention and
compression policies.

Written against the documented 2.x API (the ``by_range`` form of ``create_hypertable`` is
2.13+; ``add_compression_policy`` is kept as an alias of ``add_columnstore_policy`` since 2.18).
Everything runs inside the migration transaction: the continuous aggregate is created
``WITH NO DATA`` (``WITH DATA`` refuses to run in a transaction block) and its refresh policy
fills it. Compression orders by ``time DESC, record_key`` so the dedupe index's columns are
all segment-by or order-by columns (TimescaleDB warns otherwise and checks are slower).
"""

from __future__ import annotations

from bridges.sinks.timescale.config import TimescaleSinkConfig
from bridges.sinks.timescale.schema import DEVICE_METRICS, ROLLUP, TABLES, Table

EXTENSION = "CREATE EXTENSION IF NOT EXISTS timescaledb"
AVAILABLE = (
    "SELECT default_version, installed_version FROM pg_available_extensions "
    "WHERE name = 'timescaledb'"
)


def interval(seconds: float) -> str:
    """``INTERVAL '30 days'`` / ``'2 hours'`` / ``'90 seconds'``: the largest exact unit."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"INTERVAL '{n} {unit}{'s' if n != 1 else ''}'"
    return f"INTERVAL '{seconds:g} seconds'"


def hypertable(table: Table) -> str:
    return (
        f"SELECT create_hypertable('{table.name}', "
        f"by_range('time', INTERVAL '{table.chunk_interval}'), "
        f"if_not_exists => TRUE, migrate_data => TRUE)"
    )


def continuous_aggregate() -> str:
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {ROLLUP}\n"
        f"WITH (timescaledb.continuous) AS\n"
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


def timescale_migration(cfg: TimescaleSinkConfig) -> list[str]:
    """Everything after the tables exist, in order; each statement is idempotent."""
    out = [hypertable(t) for t in TABLES]
    out += [continuous_aggregate(), refresh_policy(cfg)]
    for t in TABLES:
        out += [compression(t), compression_policy(t, cfg)]
    out += [retention_policy(t.name, cfg.retention_days) for t in TABLES]
    out.append(retention_policy(ROLLUP, cfg.aggregate_retention_days))
    return out


def refresh_call() -> str:
    """Refresh the aggregate from ``%s`` on (outside any transaction block)."""
    return f"CALL refresh_continuous_aggregate('{ROLLUP}', %s, NULL)"
