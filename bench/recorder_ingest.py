"""Recorder bench (issue 4, point 1): state changes per second the recorder persists, on SQLite
(WAL, synchronous=NORMAL) and PostgreSQL, against the bare driver's ceiling in the same run.

Cases, each on a fresh store (a temporary SQLite file; a temporary database on ``--pg-url``):

1. **ceiling**: the bare driver inserting the same rows into the same schema by the same method
   (``sqlite3`` ``executemany``; psycopg ``COPY FROM STDIN``) in transactions of ``--batch``
   rows. No SQLAlchemy, no recorder, no event loop.
2. **live**: ``--n`` :class:`StateChanged` events over ``--entities`` sensors emitted on a real
   :class:`EventBus` as fast as the loop allows (chunks of 5,000, yielding between), recorded
   by a real :class:`Recorder` (batches of ``--batch`` rows on its writer thread); timed from
   the first emit until ``flush()`` says every row is committed. ``loop us/event`` is the event
   loop thread's CPU time per event (emit + the recorder's share), i.e. what recording costs the
   hub's loop.
3. **catch-up**: the store is blocked by another connection (SQLite: ``BEGIN EXCLUSIVE``, so
   writes fail and back off; PostgreSQL: ``LOCK TABLE states``, so the insert waits) while the
   ``--n`` events are emitted; timed from the release until the backlog is committed.

Run: ``python -m bench.recorder_ingest [--n 200000] [--pg-url postgresql://127.0.0.1:5432/test]``.
Figures go to ``bench/results/recorder.json``. Medians of ``--reps`` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy

from spark.core.events import EventBus, StateChanged
from spark.core.link import LinkState
from spark.hub.recorder import HistoryStore, Recorder, RecorderConfig
from spark.hub.recorder.models import as_number

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 5_000


def states_for(n: int, entities: int) -> list[tuple[float, str, str]]:
    t0 = time.time() - n * 1e-3
    ids = [f"sensor.bench_load_{i}" for i in range(entities)]
    return [(t0 + i * 1e-3, ids[i % entities], f"{(i * 7) % 2000 / 10:.1f}") for i in range(n)]


# ---- stores ----------------------------------------------------------------------------------
@contextlib.contextmanager
def fresh_store(kind: str, pg_url: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp / f"history-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"spark_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield f"{pg_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def ceiling(url: str, rows: list[tuple[float, str, str]], batch: int) -> float:
    """The bare driver, by the method the recorder uses (SQLite ``executemany``, PostgreSQL
    ``COPY FROM STDIN``), into the recorder's schema, ``batch`` rows per transaction; rows/s."""
    store = HistoryStore(url)
    store.open()  # creates the schema
    store.close()
    cols = "entity_id, state, state_num, attributes, last_changed, last_updated"
    params = [(e, s, as_number(s), None, t, t) for t, e, s in rows]
    started = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for i in range(0, len(params), batch):
            with conn:
                conn.executemany(f"INSERT INTO states ({cols}) VALUES (?, ?, ?, ?, ?, ?)",
                                 params[i:i + batch])
        conn.close()
    else:
        with psycopg.connect(url) as pg:
            for i in range(0, len(params), batch):
                with pg.transaction(), pg.cursor() as cur, cur.copy(
                        f"COPY states ({cols}) FROM STDIN") as copy:
                    for row in params[i:i + batch]:
                        copy.write_row(row)
    return len(rows) / (time.perf_counter() - started)


# ---- recorder cases --------------------------------------------------------------------------
async def _emit(bus: EventBus, rows: list[tuple[float, str, str]]) -> None:
    for i in range(0, len(rows), CHUNK):
        for t, entity_id, state in rows[i:i + CHUNK]:
            bus.emit(StateChanged(t, entity_id, None, state))
        await asyncio.sleep(0)  # the recorder's consumer drains the subscription


async def _connected(rec: Recorder, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while rec.state is not LinkState.UP:  # noqa: ASYNC110 (bench: no event)
            await asyncio.sleep(0.01)


async def live(url: str, rows: list[tuple[float, str, str]], batch: int) -> dict[str, float]:
    bus = EventBus()
    cfg = RecorderConfig(url=url, max_batch=batch, max_backlog=len(rows) + batch)
    rec = Recorder(cfg, bus)
    task = asyncio.create_task(rec.run(), name="bench-recorder")
    await _connected(rec)
    cpu0, t0 = time.thread_time(), time.perf_counter()
    await _emit(bus, rows)
    await rec.flush()
    elapsed, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    peak = rec.stats.commits
    rec.stop()
    await task
    assert rec.stats.states_written == len(rows) and rec.stats.dropped == 0, rec.stats
    return {"rows_s": len(rows) / elapsed, "loop_us_per_event": cpu / len(rows) * 1e6,
            "commits": peak}


async def catch_up(url: str, rows: list[tuple[float, str, str]], batch: int
                   ) -> dict[str, float]:
    bus = EventBus()
    cfg = RecorderConfig(url=url, max_batch=batch, max_backlog=len(rows) + batch,
                         connect_timeout=0.2, retry_min=0.05,
                         retry_max=0.2)
    rec = Recorder(cfg, bus)
    task = asyncio.create_task(rec.run(), name="bench-recorder")
    await _connected(rec)
    release = block(url)
    await _emit(bus, rows)
    backlog = rec.backlog
    t0 = time.perf_counter()
    await asyncio.to_thread(release)
    await rec.flush()
    elapsed = time.perf_counter() - t0
    rec.stop()
    await task
    assert rec.stats.states_written == len(rows) and rec.stats.dropped == 0, rec.stats
    return {"rows_s": len(rows) / elapsed, "backlog_at_release": backlog,
            "failures": rec.stats.failures}


def block(url: str) -> Any:
    """Block writers from another connection; returns the release function."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None,
                               check_same_thread=False)
        conn.execute("BEGIN EXCLUSIVE")

        def release_sqlite() -> None:
            conn.execute("ROLLBACK")
            conn.close()

        return release_sqlite
    pg = psycopg.connect(url)
    pg.execute("LOCK TABLE states IN ACCESS EXCLUSIVE MODE")

    def release_pg() -> None:
        pg.rollback()
        pg.close()

    return release_pg


# ---- main ------------------------------------------------------------------------------------
def pg_reachable(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = states_for(args.n, args.entities)
    kinds = ["sqlite"]
    why = None if args.no_pg else pg_reachable(args.pg_url)
    if not args.no_pg and why is None:
        kinds.append("postgresql")
    elif not args.no_pg:
        print(f"PostgreSQL skipped: {args.pg_url} not reachable ({why})", file=sys.stderr)
    out: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "sqlalchemy": sqlalchemy.__version__, "psycopg": psycopg.__version__,
                    "sqlite": sqlite3.sqlite_version, "load_average_at_start": os.getloadavg()},
        "params": {"n": args.n, "entities": args.entities, "batch": args.batch,
                   "reps": args.reps},
        "stores": {},
    }
    with tempfile.TemporaryDirectory(prefix="spark-recbench-") as tmp:
        for kind in kinds:
            figures: dict[str, list[dict[str, float]]] = {"ceiling": [], "live": [],
                                                          "catch_up": []}
            for _ in range(args.reps):
                with fresh_store(kind, args.pg_url, Path(tmp)) as url:
                    figures["ceiling"].append({"rows_s": ceiling(url, rows, args.batch)})
                with fresh_store(kind, args.pg_url, Path(tmp)) as url:
                    figures["live"].append(asyncio.run(live(url, rows, args.batch)))
                with fresh_store(kind, args.pg_url, Path(tmp)) as url:
                    figures["catch_up"].append(asyncio.run(catch_up(url, rows, args.batch)))
            out["stores"][kind] = {case: {k: statistics.median(r[k] for r in runs)
                                          for k in runs[0]} for case, runs in figures.items()}
            out["stores"][kind]["runs_rows_s"] = {case: [round(r["rows_s"]) for r in runs]
                                                  for case, runs in figures.items()}
    out["machine"]["load_average_at_end"] = os.getloadavg()
    return out


def report(res: dict[str, Any]) -> None:
    p = res["params"]
    print(f"recorder ingest: {p['n']:,} state changes over {p['entities']:,} entities, "
          f"batches of {p['batch']:,}, median of {p['reps']}")
    print(f"{'store':<12}{'driver ceiling':>16}{'recorder live':>16}{'vs ceiling':>12}"
          f"{'catch-up':>12}{'loop us/ev':>12}")
    for kind, s in res["stores"].items():
        ceil, live_, cu = s["ceiling"]["rows_s"], s["live"]["rows_s"], s["catch_up"]["rows_s"]
        print(f"{kind:<12}{ceil:>14,.0f}/s{live_:>14,.0f}/s{live_ / ceil:>11.2f}x"
              f"{cu:>10,.0f}/s{s['live']['loop_us_per_event']:>12.1f}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.recorder_ingest",
                                description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="state changes per case")
    p.add_argument("--entities", type=int, default=1000, help="distinct sensors")
    p.add_argument("--batch", type=int, default=1000, help="rows per transaction")
    p.add_argument("--reps", type=int, default=3, help="runs per case (median reported)")
    p.add_argument("--pg-url", default="postgresql://127.0.0.1:5432/test",
                   help="a PostgreSQL where a temporary database may be created")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--quick", action="store_true", help="--n 20000 --reps 1")
    return p


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.quick:
        args.n, args.reps = 20_000, 1
    res = run(args)
    report(res)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recorder.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
