"""TimescaleDB / PostgreSQL sink bench (issue 4, point 3): ``write()`` rows/s per record kind
against a bare psycopg binary COPY, in the same run and on the same server.

``python -m bench.timescale_sink [--url URL] [--rows N] [--batch N] [--reps N] [--json PATH]``

Without ``--url`` a throwaway cluster is started as the tests do (tests/pg_fixture.py: initdb,
``fsync=off``); with it, a scratch database is created on that server and dropped afterwards.
Every figure is the median of ``--reps`` runs of ``--rows`` rows in ``--batch``-row batches,
each run on freshly truncated tables with all their indexes, after an untimed run of the same;
rows/s is wall clock, rows/cpu-s counts the CPU seconds of this process plus its server backend
(steadier than wall time on a busy machine; local servers only):

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
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.common import BenchError, median
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.bridges.sinks.timescale.rows import group_rows
from spark.bridges.sinks.timescale.schema import DEVICE_METRICS, PENDING, ROLLUP, TABLES
from spark.bridges.sinks.timescale.sink import TimescaleSink
from spark.core.messages.records import (
    EventRecord,
    HealthRecord,
    InferenceRecord,
    MetricRecord,
    Record,
    SensorRecord,
)

# Current times: a TimescaleDB's retention (30 days) and compression (7 days) leave them alone.
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
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        raise BenchError(f"cannot create a scratch database on {url}: {exc}") from exc
    try:
        yield psycopg.conninfo.make_conninfo(url, dbname=name)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def truncate(url: str, *tables: str) -> None:
    """Empty ``tables`` and flush the server's dirty pages, so that writing them back does not
    land in the next measurement."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(tables)}")
        conn.execute(f"VACUUM ANALYZE {', '.join(tables)}")
        conn.execute("CHECKPOINT")


@dataclass
class Measure:
    wall: float  # seconds
    cpu: float | None  # client + server backend CPU seconds (None: the server is not local)


class Clock:
    """Wall time, this process's CPU time and the server backend's (from /proc, when local)."""

    def __init__(self, backend_pid: int | None, local: bool) -> None:
        self.pid = backend_pid if local else None

    def _backend(self) -> float | None:
        if self.pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def __enter__(self) -> Clock:
        self.t, self.c, self.b = time.perf_counter(), time.process_time(), self._backend()
        return self

    def __exit__(self, *exc: object) -> None:
        wall, client = time.perf_counter() - self.t, time.process_time() - self.c
        b = self._backend()
        self.measure = Measure(wall, None if b is None or self.b is None else client + b - self.b)


def _copy_sql(table: str) -> str:
    return f"COPY {table} ({DEVICE_METRICS.column_list}) FROM STDIN (FORMAT BINARY)"


def copy_sync(url: str, local: bool, table: str, batches: list[list[tuple]]) -> Measure:
    with psycopg.connect(url) as conn, Clock(conn.info.backend_pid, local) as clock:
        for rows in batches:
            with conn.transaction(), conn.cursor() as cur, cur.copy(_copy_sql(table)) as cp:
                cp.set_types(DEVICE_METRICS.copy_types)
                for row in rows:
                    cp.write_row(row)
    return clock.measure


async def copy_async(url: str, local: bool, table: str, batches: list[list[tuple]]) -> Measure:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        with Clock(conn.info.backend_pid, local) as clock:
            for rows in batches:
                async with conn.transaction(), conn.cursor() as cur:
                    async with cur.copy(_copy_sql(table)) as cp:
                        cp.set_types(DEVICE_METRICS.copy_types)
                        for row in rows:
                            await cp.write_row(row)
    return clock.measure


async def copy_thread(url: str, local: bool, table: str, batches: list[list[tuple]]) -> Measure:
    return await asyncio.to_thread(copy_sync, url, local, table, batches)


def config(url: str, **kw: Any) -> TimescaleSinkConfig:
    return TimescaleSinkConfig.model_validate({"url": url, "maintenance_seconds": 0, **kw})


async def sink_run(url: str, local: bool, batches: list[list[Record]], batch: int,
                   staging: str, replay: bool) -> Measure:
    sink = TimescaleSink(config(url, batch_rows=batch, staging=staging))
    await sink.open()
    try:
        if replay:
            for b in batches:
                await sink.write(b)
        with Clock(sink.backend_pid, local) as clock:
            for b in batches:
                await sink.write(b)
    finally:
        await sink.close()
    return clock.measure


async def migrate(url: str) -> str:
    """Create the schema; returns the database's flavour (``timescale`` or ``plain``)."""
    sink = TimescaleSink(config(url))
    await sink.open()
    await sink.close()
    assert sink.flavour is not None
    return sink.flavour


def sink_tables(flavour: str) -> list[str]:
    """What a sink run fills: the raw tables, and on plain PostgreSQL the rollup table and its
    pending ranges (on TimescaleDB the rollup is a continuous aggregate, not truncated)."""
    raw = [t.name for t in TABLES]
    return raw if flavour == "timescale" else [*raw, ROLLUP, PENDING]


def is_local(url: str) -> bool:
    host = psycopg.conninfo.conninfo_to_dict(url).get("host") or ""
    return str(host) in ("", "127.0.0.1", "localhost", "::1") or str(host).startswith("/")


def run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"rows": args.rows, "batch": args.batch, "reps": args.reps,
                           "server": args.url or "throwaway cluster (fsync=off)"}
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}

    def rate(name: str, fn: Callable[[], Measure], *tables: str) -> None:
        # A first, untimed run: the first big writer after another table's run also pays for
        # evicting that run's pages from shared_buffers (up to 1.7x slower here).
        truncate(url, *tables)
        fn()
        truncate(url, *tables)
        m = fn()
        walls.setdefault(name, []).append(args.rows / m.wall)
        if m.cpu:
            cpus.setdefault(name, []).append(args.rows / m.cpu)

    with server(args.url) as url:
        local = is_local(url)
        res["flavour"] = flavour = asyncio.run(migrate(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE bare_metrics (LIKE device_metrics)")
        all_tables = sink_tables(flavour)
        by_kind = {k: chunks(records(k, args.rows), args.batch) for k in KINDS}
        tuples = [group_rows(b)[DEVICE_METRICS] for b in by_kind["metric"]]
        for _ in range(args.reps):
            rate("copy_unindexed", lambda: copy_sync(url, local, "bare_metrics", tuples),
                 "bare_metrics")
            rate("copy_indexed_sync", lambda: copy_sync(url, local, "device_metrics", tuples),
                 "device_metrics")
            rate("copy_indexed_async",
                 lambda: asyncio.run(copy_async(url, local, "device_metrics", tuples)),
                 "device_metrics")
            rate("copy_indexed_thread",
                 lambda: asyncio.run(copy_thread(url, local, "device_metrics", tuples)),
                 "device_metrics")
            for kind, batches in by_kind.items():
                for label, staging, replay in (("", "on-conflict", False),
                                               ("_replay", "on-conflict", True),
                                               ("_staged", "always", False)):
                    def once(b: list[list[Record]] = batches, s: str = staging,
                             r: bool = replay) -> Measure:
                        return asyncio.run(sink_run(url, local, b, args.batch, s, r))

                    rate(f"sink_{kind}{label}", once, *all_tables)
    res["rows_per_s"] = {k: round(median(v)) for k, v in walls.items()}
    res["rows_per_cpu_s"] = {k: round(median(v)) for k, v in cpus.items()}
    return res


def table(res: dict[str, Any]) -> str:
    wall, cpu = res["rows_per_s"], res["rows_per_cpu_s"]
    w0, c0 = wall["copy_indexed_sync"], cpu.get("copy_indexed_sync")
    lines = [f"server: {res['server']} ({res['flavour']}); {res['rows']} rows in "
             f"{res['batch']}-row batches, "
             f"median of {res['reps']}",
             "rows/s: wall clock; rows/cpu-s: per CPU second of this process + its server "
             "backend (steadier on a busy machine); x: vs the bare indexed COPY",
             f"{'what':<24}{'rows/s':>10}{'x':>7}{'rows/cpu-s':>13}{'x':>7}"]
    for name, v in wall.items():
        c = cpu.get(name)
        cx = f"{c:>13,}{c / c0:>7.2f}" if c and c0 else f"{'-':>13}{'-':>7}"
        lines.append(f"{name:<24}{v:>10,}{v / w0:>7.2f}{cx}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.timescale_sink", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", "--pg", dest="url",
                   help="an existing PostgreSQL or TimescaleDB server (default: a throwaway "
                   "cluster)")
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
