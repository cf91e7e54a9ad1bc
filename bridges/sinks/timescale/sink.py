"""The TimescaleDB / PostgreSQL sink: binary COPY per table, one transaction per batch.

Each batch is split by table and, per table, COPYed (binary) straight into the target inside a
savepoint. A key that is already there (a replay after a crash or a lost commit ack) fails that
COPY with a unique violation; the rows then go through the staging merge instead: COPY into a
TEMP table, ``INSERT INTO target SELECT ... ON CONFLICT DO NOTHING``. On a fresh batch the direct
COPY saves the merge (1.3-1.5x the rows/s here, see bench/timescale_sink.py); a replay costs one
aborted COPY more (it stops at the first known key). ``staging: always`` merges every batch.

psycopg's AsyncConnection rather than a sync one in a worker thread: the bench measured the
same rows/s for both (the server's index upkeep is the bottleneck, not the client), and the
async one gives cancellation and the ``write_timeout`` deadline for free.

A record PostgreSQL refuses (a data or constraint error, or one that cannot be encoded) is
found by halving the batch, logged with its key and dropped; the rest is delivered. A lost link,
a timeout or any other server error closes the connection and raises :class:`SinkError`; the
next ``write`` reconnects (and re-checks the migrations).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from psycopg import errors as pgerr
from psycopg.types.json import set_json_dumps

from spark.bridges.sinks.base import Sink, SinkError, register
from spark.bridges.sinks.timescale import hypertables, queries
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.bridges.sinks.timescale.migrate import Flavour, connect_migrated
from spark.bridges.sinks.timescale.rows import Row, dumps_jsonb, group_rows
from spark.bridges.sinks.timescale.schema import DEVICE_METRICS, TABLES, Table
from spark.core.link import LinkState
from spark.core.messages.records import Record

log = logging.getLogger(__name__)

# Errors that belong to the rows, not to the link: retrying the same rows cannot help.
_ROW_ERRORS = (pgerr.DataError, pgerr.IntegrityError, UnicodeError, orjson.JSONEncodeError)


@dataclass
class SinkStats:
    batches: int = 0  # committed transactions
    rows_written: int = 0  # new rows
    duplicates: int = 0  # rows dropped because their key was already there
    rejected: int = 0  # records PostgreSQL refused (logged and dropped)
    merges: int = 0  # tables that went through the staging merge


class _RowsRefused(Exception):
    pass


def _stage(table: Table) -> str:
    return f"stage_{table.name}"


@register
class TimescaleSink(Sink):
    type = "timescale"

    def __init__(self, config: TimescaleSinkConfig) -> None:
        self.config = config
        self.state = LinkState.CLOSED
        self.flavour: Flavour | None = None
        self.stats = SinkStats()
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()  # one user of the connection at a time
        self._maintenance: asyncio.Task[None] | None = None

    # ---- connection -----------------------------------------------------------------------
    async def _make_client(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(
            self.config.dsn(), autocommit=True, connect_timeout=self.config.connect_timeout,
            application_name="prime-spark-timescale-sink", keepalives=1, keepalives_idle=15,
            keepalives_interval=5, keepalives_count=3)
        set_json_dumps(dumps_jsonb, context=conn)
        return conn

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn, self.flavour = await connect_migrated(self._make_client, self.config,
                                                    _create_staging)
        if conn.info.encoding != "utf-8":
            log.warning("timescale sink: the database encoding is %s, not UTF8: records with "
                        "characters it cannot hold will be refused and dropped",
                        conn.info.encoding)
        self._conn, self.state = conn, LinkState.UP
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except (psycopg.Error, OSError, TimeoutError):
                pass
        self.state = LinkState.DOWN

    @property
    def backend_pid(self) -> int | None:
        """The server process of the write connection (diagnostics, benches)."""
        return None if self._conn is None or self._conn.closed else self._conn.info.backend_pid

    async def open(self) -> None:
        async with self._lock:
            try:
                async with asyncio.timeout(self.config.write_timeout):
                    await self._connection()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await self._drop()
                raise SinkError(f"timescale: cannot open: {exc or type(exc).__name__}") from exc
        if (self.flavour == "plain" and self.config.maintenance_seconds > 0
                and self._maintenance is None):
            self._maintenance = asyncio.create_task(
                self._maintain(), name="timescale-sink-maintenance")

    async def probe(self) -> bool:
        """Does the server take a connection now? A bare connect (no migrations), closed."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.config.dsn(), autocommit=True, connect_timeout=self.config.connect_timeout,
                application_name="prime-spark-timescale-probe")
        except (psycopg.Error, OSError):
            return False
        await conn.close()
        return True

    async def close(self) -> None:
        task, self._maintenance = self._maintenance, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self._lock:
            await self._drop()
        self.state = LinkState.CLOSED

    # ---- writing ----------------------------------------------------------------------------
    async def write(self, batch: Sequence[Record]) -> None:
        size = self.config.batch_rows
        for start in range(0, len(batch), size):
            await self._deliver(batch[start:start + size])

    async def _deliver(self, recs: Sequence[Record]) -> None:
        try:
            await self._attempt(recs)
        except _RowsRefused as exc:
            if len(recs) == 1:
                self.stats.rejected += 1
                log.warning("timescale sink: dropping record %s (%s): %s",
                            recs[0].key, recs[0].kind, exc.__cause__)
                return
            mid = len(recs) // 2
            await self._deliver(recs[:mid])
            await self._deliver(recs[mid:])

    async def _attempt(self, recs: Sequence[Record]) -> None:
        async with self._lock:
            try:
                groups = group_rows(recs)
                async with asyncio.timeout(self.config.write_timeout):
                    conn = await self._connection()
                    await self._merge(conn, groups)
            except _ROW_ERRORS as exc:
                if self._conn is not None and self._conn.closed:
                    await self._drop()
                raise _RowsRefused from exc
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await self._drop()
                what = str(exc).strip() or type(exc).__name__
                raise SinkError(f"timescale: batch of {len(recs)} not written: {what}") from exc

    async def _merge(self, conn: psycopg.AsyncConnection, groups: dict[Table, list[Row]]) -> None:
        new = total = merged = 0
        async with conn.transaction():
            for table, rows in groups.items():
                total += len(rows)
                if self.config.staging == "on-conflict":
                    try:
                        async with conn.transaction():  # savepoint
                            await _copy(conn, table.name, table, rows)
                        new += len(rows)
                        continue
                    except pgerr.UniqueViolation:
                        pass
                merged += 1
                await _copy(conn, _stage(table), table, rows)
                cur = await conn.execute(
                    f"INSERT INTO {table.name} ({table.column_list}) "
                    f"SELECT {table.column_list} FROM {_stage(table)} ON CONFLICT DO NOTHING")
                new += max(cur.rowcount, 0)
            metrics = groups.get(DEVICE_METRICS)
            if metrics and self.flavour == "plain":
                await conn.execute(queries.MARK_PENDING, (min(r[0] for r in metrics),
                                                          max(r[0] for r in metrics)))
        self.stats.batches += 1
        self.stats.rows_written += new
        self.stats.duplicates += total - new
        self.stats.merges += merged

    # ---- reconciliation and maintenance -------------------------------------------------------
    async def counts_per_hour(self, since: float, until: float) -> dict[tuple[str, int], int]:
        """``{(kind, hour start epoch seconds): rows}`` with ``since <= time < until``."""
        args = (datetime.fromtimestamp(since, UTC), datetime.fromtimestamp(until, UTC))
        async with self._lock:
            try:
                async with asyncio.timeout(self.config.write_timeout):
                    conn = await self._connection()
                    cur = await conn.execute(queries.COUNTS_PER_HOUR, args * len(TABLES))
                    rows = await cur.fetchall()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                await self._drop()
                raise SinkError(f"timescale: counts_per_hour failed: {exc}") from exc
        return {(kind, int(hour)): int(n) for kind, hour, n in rows}

    async def refresh_rollup(self, since: datetime | None = None) -> int:
        """Recompute ``hourly_device_metrics`` from the hour of ``since`` on; with None, the
        hours written since the last refresh (plain) or the policy's window (TimescaleDB:
        whole hours up to the current one, which real-time aggregation keeps current).
        Returns the buckets written (plain) or 0."""
        async with await self._maintenance_client() as conn:
            if self.flavour == "timescale":
                now = datetime.now(UTC)
                window = hypertables.refresh_window(
                    since or now - timedelta(hours=self.config.rollup_lookback_hours), now)
                if window is not None:
                    await conn.execute(hypertables.refresh_call(), window)
                return 0
            if since is None:
                cur = await conn.execute(queries.REFRESH_PENDING)
            else:
                cur = await conn.execute(queries.REFRESH_SINCE, (since,))
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def purge(self) -> int:
        """Plain PostgreSQL: delete what the retention policies would drop; rows deleted.
        TimescaleDB: nothing (its policies run in the server)."""
        if self.flavour == "timescale":
            return 0
        keep = (timedelta(days=self.config.retention_days),
                timedelta(days=self.config.aggregate_retention_days))
        async with await self._maintenance_client() as conn:
            row = await (await conn.execute(queries.PURGE, keep)).fetchone()
            return int(row[0]) if row else 0

    async def _maintenance_client(self) -> psycopg.AsyncConnection:
        """A short-lived connection of its own: maintenance never blocks or breaks writes."""
        try:
            if self.flavour is not None:
                return await self._make_client()
            conn, self.flavour = await connect_migrated(self._make_client, self.config)
            return conn
        except (psycopg.Error, OSError) as exc:
            raise SinkError(f"timescale: maintenance cannot connect: {exc}") from exc

    async def _maintain(self) -> None:
        every = self.config.maintenance_seconds
        while True:
            await asyncio.sleep(every)
            try:
                buckets = await self.refresh_rollup()
                purged = await self.purge()
                log.debug("timescale sink: rollup %d buckets, purged %d rows", buckets, purged)
            except Exception as exc:  # keep the job alive whatever happened
                log.warning("timescale sink: maintenance failed (retrying in %gs): %s",
                            every, exc)


async def _create_staging(conn: psycopg.AsyncConnection) -> None:
    """The session's TEMP staging tables (the merge path of :meth:`TimescaleSink._merge`)."""
    for t in TABLES:
        await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_stage(t)} (LIKE {t.name}) "
                           f"ON COMMIT DELETE ROWS")


async def _copy(conn: psycopg.AsyncConnection, target: str, table: Table,
                rows: list[Row]) -> None:
    async with conn.cursor() as cur:
        async with cur.copy(
                f"COPY {target} ({table.column_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(table.copy_types)
            for row in rows:
                await copy.write_row(row)
