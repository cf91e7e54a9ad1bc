"""SQL the sink runs at run time (the schema itself is in :mod:`.schema` / :mod:`.hypertables`)."""

from __future__ import annotations

from spark.bridges.sinks.timescale.schema import (
    ANALYTICS_EVENTS,
    HEALTH_EVENT_PREFIX,
    PENDING,
    ROLLUP,
    TABLE_OF_KIND,
    TABLES,
)


def _kind_of(table_name: str) -> str:
    if table_name == ANALYTICS_EVENTS.name:
        return (f"CASE WHEN event_type LIKE '{HEALTH_EVENT_PREFIX}%%' "
                f"THEN 'health' ELSE 'event' END")
    kind = next(k for k, t in TABLE_OF_KIND.items() if t.name == table_name)
    return f"'{kind}'"


# (kind, hour start as epoch seconds, rows) for since <= time < until; params: (since, until)
# once per table.
COUNTS_PER_HOUR = "\nUNION ALL\n".join(
    f"SELECT {_kind_of(t.name)} AS kind, "
    f"(floor(extract(epoch FROM time) / 3600) * 3600)::bigint AS hour, count(*) "
    f"FROM {t.name} WHERE time >= %s AND time < %s GROUP BY 1, 2"
    for t in TABLES
)

# Plain PostgreSQL only: the hours a batch touched, for the rollup job (an invalidation log).
MARK_PENDING = f"INSERT INTO {PENDING} (since, until) VALUES (%s, %s)"
REFRESH_PENDING = "SELECT spark_refresh_pending()"
REFRESH_SINCE = f"SELECT spark_refresh_{ROLLUP}(%s)"
PURGE = "SELECT spark_purge(%s, %s)"
