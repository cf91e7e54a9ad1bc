"""Outbox store bench (issue 4): why the outbox is SQLite in WAL mode (bridges/outbox/store.py).

Appends ``--records`` real record bodies (a ``MetricRecord``'s wire form, ~200 bytes) in
batches of 10 / 100 / 1,000 per commit, to (1) the outbox's own table layout in SQLite WAL at
``synchronous`` FULL (our ``always``/``batch`` policies), NORMAL (``interval``) and OFF
(``never``), and (2) a bare append-only file of length-prefixed records with and without an
fsync per batch; then reads the SQLite log back in order in batches of 5,000.

fsync latency on a shared virtual disk swings between ~0.2 and ~8 ms within minutes, so compare
rows of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import struct
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS
from spark.core.messages.records import MetricRecord

SCHEMA = ("CREATE TABLE records (seq INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, "
          "prio INTEGER NOT NULL, hour INTEGER NOT NULL, enq REAL NOT NULL, target TEXT, "
          "body BLOB NOT NULL)")


def bodies(n: int) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC)
    return [(f"metric:pi5:cpu:{i}", MetricRecord(
        key=f"metric:pi5:cpu:{i}", device_id="pi5", time=now, metric_name="cpu_percent",
        value=i * 0.5).to_payload()) for i in range(n)]


def sqlite_run(path: Path, rows: list[tuple[str, bytes]], batch: int, sync: str
               ) -> tuple[float, float]:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={sync}")
    db.execute(SCHEMA)
    now = time.time()
    t0 = time.perf_counter()
    for i in range(0, len(rows), batch):
        chunk = [(k, "metric", 2, 0, now, b) for k, b in rows[i:i + batch]]
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO records (key, kind, prio, hour, enq, body) "
                       "VALUES (?,?,?,?,?,?)", chunk)
        db.execute("COMMIT")
    append = len(rows) / (time.perf_counter() - t0)
    t0, cursor, got = time.perf_counter(), 0, 0
    while batch_rows := db.execute("SELECT seq, body FROM records WHERE seq > ? ORDER BY seq "
                                   "LIMIT 5000", (cursor,)).fetchall():
        cursor, got = batch_rows[-1][0], got + len(batch_rows)
    read = got / (time.perf_counter() - t0)
    db.close()
    return append, read


def file_run(path: Path, rows: list[tuple[str, bytes]], batch: int, fsync: bool) -> float:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            os.write(fd, b"".join(struct.pack("<IQ", len(b), i + j) + b
                                  for j, (_k, b) in enumerate(rows[i:i + batch])))
            if fsync:
                os.fsync(fd)
        return len(rows) / (time.perf_counter() - t0)
    finally:
        os.close(fd)


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench outbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dir", help="folder on the disk to measure (default: a temp folder)")
    args = parser.parse_args(argv)
    rows = bodies(args.records)
    res: dict[str, Any] = {"records": args.records}
    with tempfile.TemporaryDirectory(prefix="spark-outbox-bench-", dir=args.dir) as tmp:
        base = Path(tmp)
        print(f"{'appends/s, batch of':<32}{10:>12}{100:>12}{1000:>12}   read/s")
        for sync in ("FULL", "NORMAL", "OFF"):
            figs = [sqlite_run(base / "o.sqlite3", rows, b, sync) for b in (10, 100, 1000)]
            res[f"sqlite_{sync.lower()}"] = {"append": [round(a) for a, _r in figs],
                                             "read": round(figs[-1][1])}
            print(f"{'SQLite WAL synchronous=' + sync:<32}"
                  + "".join(f"{a:>12,.0f}" for a, _r in figs) + f"   {figs[-1][1]:,.0f}")
        for fsync in (True, False):
            figs_f = [file_run(base / "o.log", rows, b, fsync) for b in (10, 100, 1000)]
            res[f"file_fsync_{str(fsync).lower()}"] = {"append": [round(a) for a in figs_f]}
            print(f"{'file log, fsync per batch' if fsync else 'file log, no fsync':<32}"
                  + "".join(f"{a:>12,.0f}" for a in figs_f))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bridge-outbox.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
