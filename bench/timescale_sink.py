"""TimescaleDB / PostgreSQL sink bench (issue 4, point 3): ``write()`` rows/s per record kind
against a bare psycopg binary COPY, in the same run and on the same server.

``python -m bench.timescale_sink [--url URL] [--rows N] [--batch N] [--reps N] [--json PATH]``

Without ``--url`` a throwaway cluster is started as the tests do (tests/pg_fixture.py: initdb,
``fsync=off``); with it, a scratch database is created on that server and dropped afterwards.
Every figure is the median of ``--reps`` runs of ``--rows`` rows in ``--batch``-row batches,
each run on freshly truncated tables with all their indexes:

* ``copy`` rows: a bare binary COPY of prebuilt tuples, no dedupe: into an unindexed table
  (the PERF-NOTES ceiling), into ``device_metrics`` itself (same indexes as the sink), and the
  latter through an ``AsyncConnection`` and through a sync connection in a worker thread (the
  async-or-thread question).
* ``sink`` rows: ``TimescaleSink.write`` from records (row building, COPY, commit): new keys
  per kind, a full replay of the same batches (all duplicates), and ``staging: always``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.common import BenchError, median
from bridges.records import (
    EventRecord,
    HealthRecord,
    InferenceRecord,
    MetricRecord,
    Record,
    SensorRecord,
)
from bridges.sinks.timescale.config import TimescaleSinkConfig
from bridges.sinks.timescale.rows import group_rows
from bridges.sinks.timescale.schema import DEVICE_METRICS, TABLES
from bridges.sinks.timescale.sink import TimescaleSink

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
KINDS = ("metric", "sensor", "inference", "event", "health")


def records(kind: str, n: int, start: int = 0) -> list[Record]:
    def one(i: int) -> Record:
        t, dev, key = T0 + timedelta(microseconds=50 * i), f"pi{i % 20}", f"hub:{kind}:{i}"
        if kind == "metric":
            return MetricRecord(key=key, device_id=dev, time=t, metric_name="cpu_percent",
                                value=i * 0.25)
        if kind == "sensor":
            return SensorRecord(key=key, device_id=dev, time=t, sensor_id=f"sensor.t{i % 50}",
                                value=20.5, state="20.5", unit="°C",
                                attributes={"friendly_name": "Temperature"})
        if kind == "inference":
            return InferenceRecord(key=key, device_id=dev, time=t, model_name="yolov8n",
                                   latency_ms=11.5, counts={"person": 1},
                                   detections=[{"label": "person", "score": 0.91,
                                                "box": [10, 20, 110, 220]}])
        if kind == "event":
            return EventRecord(key=key, device_id=dev, time=t, event_type="motion",
                               source="binary_sensor.hall", data={"on": True})
        return HealthRecord(key=key, device_id=dev, time=t, status="healthy",
                            details={"backlog": i % 7})
    return [one(i) for i in range(start, start + n)]


def chunks(seq: list[Any], size: int) -> list[list[Any]]:
    return [seq[i:i + size] for i in range(0, len(seq), size)]


@contextmanager
def server(url: str | None) -> Iterator[str]:
    """A scratch database URL on ``url``'s server, or on a throwaway cluster."""
    if url is None:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        import pg_fixture

        cluster = pg_fixture.start_cluster()
        try:
            yield cluster.create_database("bench")
        finally:
            pg_fixture.remove_cluster(cluster)
        return
    name = f"spark_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise BenchError(f"cannot create a scratch database on {url}: {exc}") from exc
    info = psycopg.conninfo.conninfo_to_dict(url)
    try:
        yield psycopg.conninfo.make_conninfo(**{**info, "dbname": name})
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")  # type: ignore[arg-type]


def truncate(url: str, *tables: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)}")  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE")


def _copy_sql(table: str) -> str:
    return f"COPY {table} ({DEVICE_METRICS.column_list}) FROM STDIN (FORMAT BINARY)"


def copy_sync(url: str, table: str, batches: list[list[tuple]]) -> float:
    with psycopg.connect(url) as conn:
        t = time.perf_counter()
        for rows in batches:
            with conn.transaction(), conn.cursor() as cur, cur.copy(_copy_sql(table)) as cp:  # type: ignore[arg-type]
                cp.set_types(DEVICE_METRICS.copy_types)
                for row in rows:
                    cp.write_row(row)
        return time.perf_counter() - t


async def copy_async(url: str, table: str, batches: list[list[tuple]]) -> float:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        t = time.perf_counter()
        for rows in batches:
            async with conn.transaction(), conn.cursor() as cur:
                async with cur.copy(_copy_sql(table)) as cp:  # type: ignore[arg-type]
                    cp.set_types(DEVICE_METRICS.copy_types)
                    for row in rows:
                        await cp.write_row(row)
        return time.perf_counter() - t


async def copy_thread(url: str, table: str, batches: list[list[tuple]]) -> float:
    return await asyncio.to_thread(copy_sync, url, table, batches)


async def sink_run(url: str, batches: list[list[Record]], batch: int, staging: str,
                   replay: bool) -> float:
    sink = TimescaleSink(TimescaleSinkConfig(url=url, batch_rows=batch, staging=staging,
                                             maintenance_seconds=0))
    await sink.open()
    try:
        if replay:
            for b in batches:
                await sink.write(b)
        t = time.perf_counter()
        for b in batches:
            await sink.write(b)
        elapsed = time.perf_counter() - t
    finally:
        await sink.close()
    return elapsed


async def migrate(url: str) -> None:
    sink = TimescaleSink(TimescaleSinkConfig(url=url, maintenance_seconds=0))
    await sink.open()
    await sink.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"rows": args.rows, "batch": args.batch, "reps": args.reps,
                           "server": args.url or "throwaway cluster (fsync=off)"}
    figures: dict[str, list[float]] = {}

    def rate(name: str, fn: Callable[[], float], *tables: str) -> None:
        truncate(url, *tables)
        figures.setdefault(name, []).append(args.rows / fn())

    with server(args.url) as url:
        asyncio.run(migrate(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bare_metrics (LIKE device_metrics)")
        all_tables = [t.name for t in TABLES] + ["hourly_device_metrics", "spark_rollup_pending"]
        by_kind = {k: chunks(records(k, args.rows), args.batch) for k in KINDS}
        tuples = [group_rows(b)[DEVICE_METRICS] for b in by_kind["metric"]]
        for _ in range(args.reps):
            rate("copy_unindexed", lambda: copy_sync(url, "bare_metrics", tuples), "bare_metrics")
            rate("copy_indexed_sync", lambda: copy_sync(url, "device_metrics", tuples),
                 "device_metrics")
            rate("copy_indexed_async",
                 lambda: asyncio.run(copy_async(url, "device_metrics", tuples)), "device_metrics")
            rate("copy_indexed_thread",
                 lambda: asyncio.run(copy_thread(url, "device_metrics", tuples)),
                 "device_metrics")
            for kind, batches in by_kind.items():
                for label, staging, replay in (("", "on-conflict", False),
                                               ("_replay", "on-conflict", True),
                                               ("_staged", "always", False)):
                    rate(f"sink_{kind}{label}", lambda b=batches, s=staging, r=replay:
                         asyncio.run(sink_run(url, b, args.batch, s, r)), *all_tables)
    res["rows_per_s"] = {k: round(median(v)) for k, v in figures.items()}
    return res


def table(res: dict[str, Any]) -> str:
    f = res["rows_per_s"]
    ceiling = f["copy_indexed_sync"]
    lines = [f"server: {res['server']}; {res['rows']} rows in {res['batch']}-row batches, "
             f"median of {res['reps']}", f"{'what':<28}{'rows/s':>10}{'vs indexed COPY':>18}"]
    for name, v in f.items():
        lines.append(f"{name:<28}{v:>10,}{v / ceiling:>17.2f}x")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.timescale_sink", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="an existing server (default: a throwaway cluster)")
    p.add_argument("--rows", type=int, default=100_000, help="rows per measurement")
    p.add_argument("--batch", type=int, default=10_000, help="rows per write() / COPY")
    p.add_argument("--reps", type=int, default=3, help="runs per figure (median)")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    return p


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    res = run(args)
    print(table(res))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BenchError as exc:
        sys.exit(f"bench timescale: {exc}")
