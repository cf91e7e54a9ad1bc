"""The outbox's SQLite log: one connection per :class:`Outbox` (design and figures: the package
docstring, bridges/outbox/__init__.py)."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark.bridges.outbox.config import OutboxConfig
from spark.core.errors import PayloadError, SparkError
from spark.core.messages.records import Record, record_from_payload

log = logging.getLogger(__name__)

DB_NAME = "outbox.sqlite3"
MID_WINDOW = 32768  # committed MQTT packet ids remembered (half the id space, see ingest)
_SYNC = {"always": "NORMAL", "batch": "NORMAL", "interval": "NORMAL", "never": "OFF"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, prio INTEGER NOT NULL,
    hour INTEGER NOT NULL, enq REAL NOT NULL, target TEXT, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, acked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (sink TEXT NOT NULL, kind TEXT NOT NULL, hour INTEGER NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (sink, kind, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ingest_mids (batch INTEGER PRIMARY KEY, n INTEGER NOT NULL,
    mids BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS links (sink TEXT PRIMARY KEY, state TEXT NOT NULL,
    delivered INTEGER NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('rows', 0), ('bytes', 0);
"""
ROW_OVERHEAD = 48  # bytes a row costs besides its key and body (seq, kind, times, b-tree cell)
SIZE_SQL = f"length(body) + length(key) + {ROW_OVERHEAD}"


class OutboxError(SparkError):
    """The outbox cannot be opened or written (disk full, corrupt file, locked)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Records for one sink, in order; ``upto`` is the cursor after them."""

    sink: str
    records: list[Record]
    upto: int
    counts: Counter[tuple[str, int]]  # (kind, hour) of the rows counted in the ledger


@dataclass(frozen=True, slots=True)
class Backlog:
    sink: str
    count: int
    bytes: int
    oldest_age_s: float


Row = tuple[str, str, int, int, float, bytes]  # key, kind, prio, hour, enq, body


def hour_of(record: Record) -> int:
    return int(record.time.timestamp()) // 3600 * 3600


class Outbox:
    """One connection to the log. Use an instance from one thread at a time; components that
    run concurrently (ingest, each pump, upkeep) open their own (so do other processes)."""

    def __init__(self, cfg: OutboxConfig, sinks: Iterable[str]) -> None:
        self.cfg = cfg
        self.sinks = list(sinks)
        self.path = Path(cfg.path) / DB_NAME
        self.dropped: Counter[str] = Counter()  # "delivered", "prio0".."prio2"
        self._db: sqlite3.Connection | None = None
        self._mid_batches: deque[tuple[int, int]] = deque()  # (batch id, mids) oldest first
        self._mid_total = 0
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()  # one transaction at a time on this connection

    # ---- lifecycle --------------------------------------------------------------------
    def open(self) -> Outbox:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 10000")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise OutboxError(f"{self.path}: SQLite refused WAL mode ({mode})")
            db.execute(f"PRAGMA synchronous = {_SYNC[self.cfg.fsync]}")
            db.execute("PRAGMA journal_size_limit = 67108864")
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR IGNORE INTO cursors VALUES (?, 0)",
                           [(s,) for s in self.sinks])
            db.execute("COMMIT")
            self._mid_batches = deque(db.execute(
                "SELECT batch, n FROM ingest_mids ORDER BY batch").fetchall())
            self._mid_total = sum(n for _b, n in self._mid_batches)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {self.path}: {exc}") from exc
        self._db = db
        return self

    def another(self) -> Outbox:
        """A second, open connection to the same log (for a concurrent component)."""
        return Outbox(self.cfg, self.sinks).open()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Outbox:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise OutboxError("outbox is not open")
        return self._db

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit that added records, in the committing thread."""
        self._listeners.append(listener)

    def _write(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        db = self.db
        try:
            with self._lock:
                self._transaction(db, fn)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox write failed: {exc}") from exc

    @staticmethod
    def _transaction(db: sqlite3.Connection, fn: Callable[[sqlite3.Connection], None]) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # ---- ingest side ------------------------------------------------------------------
    def append(self, records: Sequence[Record], mids: bytes = b"", n_mids: int = 0) -> None:
        """Commit ``records`` (and the MQTT packet ids they came with) in one transaction."""
        self.append_rows(self.rows(records), mids, n_mids)

    @staticmethod
    def rows(records: Sequence[Record], now: float | None = None) -> list[Row]:
        """The rows :meth:`append_rows` stores (all the Python work of an append: callers that
        commit on a worker thread build them first, on their own thread); ``now``: the
        enqueue time (default: now)."""
        now = time.time() if now is None else now
        return [(r.key, r.kind, int(r.priority), hour_of(r), now, r.to_payload()) for r in records]

    def append_rows(self, rows: list[Row], mids: bytes = b"", n_mids: int = 0) -> None:
        size = sum(len(row[0]) + len(row[5]) for row in rows) + ROW_OVERHEAD * len(rows)

        def tx(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT INTO records (key, kind, prio, hour, enq, body) VALUES (?,?,?,?,?,?)", rows)
            self.count(db, len(rows), size)
            if n_mids:
                cur = db.execute("INSERT INTO ingest_mids (n, mids) VALUES (?, ?)", (n_mids, mids))
                self._mid_batches.append((int(cur.lastrowid or 0), n_mids))
                self._prune_mids(db)

        if rows or n_mids:
            self._write(tx)
        if rows:
            for listener in self._listeners:
                listener()

    @staticmethod
    def count(db: sqlite3.Connection, rows: int, size: int) -> None:
        """Keep the running totals of rows and bytes (inside the caller's transaction)."""
        db.execute("UPDATE meta SET value = value + (CASE key WHEN 'rows' THEN ? ELSE ? END)",
                   (rows, size))

    def delete(self, db: sqlite3.Connection, where: str, params: Sequence[object]) -> int:
        """Delete rows (inside the caller's transaction) and count them out; returns how many."""
        sizes = db.execute(f"DELETE FROM records WHERE {where} RETURNING {SIZE_SQL}",
                           params).fetchall()
        if sizes:
            self.count(db, -len(sizes), -sum(s for (s,) in sizes))
        return len(sizes)

    def _prune_mids(self, db: sqlite3.Connection) -> None:
        total = self._mid_total = self._mid_total + self._mid_batches[-1][1]
        cut = None
        while len(self._mid_batches) > 1 and total - self._mid_batches[0][1] >= MID_WINDOW:
            cut, n = self._mid_batches.popleft()
            total -= n
        self._mid_total = total
        if cut is not None:
            db.execute("DELETE FROM ingest_mids WHERE batch <= ?", (cut,))

    def committed_mids(self) -> list[bytes]:
        """The packed (mid, crc) blobs of the last committed batches, oldest first."""
        return [row[0] for row in self.db.execute("SELECT mids FROM ingest_mids ORDER BY batch")]

    def sync(self) -> None:
        """fsync the WAL now (the ``interval`` policy calls this on its timer)."""
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ---- sink side --------------------------------------------------------------------
    def cursor(self, sink: str) -> int:
        row = self.db.execute("SELECT acked FROM cursors WHERE sink = ?", (sink,)).fetchone()
        if row is None:
            raise OutboxError(f"unknown sink {sink!r}; outbox sinks: {', '.join(self.sinks)}")
        return int(row[0])

    def read(self, sink: str, limit: int) -> Batch:
        """The next ``limit`` records for ``sink`` after its cursor (empty when caught up)."""
        return self.decode(sink, *self.fetch(sink, limit))

    def fetch(self, sink: str, limit: int) -> tuple[int, list[tuple[Any, ...]]]:
        """(cursor, rows after it): the SQLite half of :meth:`read`."""
        start = self.cursor(sink)
        return start, self.db.execute(
            "SELECT seq, kind, hour, target, body FROM records WHERE seq > ? "
            "AND (target IS NULL OR target = ?) ORDER BY seq LIMIT ?", (start, sink, limit),
        ).fetchall()

    @staticmethod
    def decode(sink: str, start: int, rows: list[tuple[Any, ...]]) -> Batch:
        """The Python half of :meth:`read`: rows -> records and ledger counts."""
        records: list[Record] = []
        counts: Counter[tuple[str, int]] = Counter()
        for seq, kind, hour, target, body in rows:
            try:
                records.append(record_from_payload(body))
            except PayloadError as exc:
                log.error("outbox: dropped unreadable record seq %d: %s", seq, exc)
                continue
            if target is None:
                counts[(kind, hour)] += 1
        return Batch(sink, records, rows[-1][0] if rows else start, counts)

    def ack(self, batch: Batch) -> None:
        """``batch`` is durable at its sink: move the cursor and count it in the ledger."""

        def tx(db: sqlite3.Connection) -> None:
            db.execute("UPDATE cursors SET acked = max(acked, ?) WHERE sink = ?",
                       (batch.upto, batch.sink))
            db.executemany(
                "INSERT INTO ledger VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sink, kind, hour) DO UPDATE SET n = n + excluded.n",
                [(batch.sink, kind, hour, n) for (kind, hour), n in batch.counts.items()],
            )

        self._write(tx)

    def backlog(self, sink: str) -> Backlog:
        start = self.cursor(sink)
        db = self.db
        where = "seq > ? AND (target IS NULL OR target = ?)"
        count = db.execute(f"SELECT count(*) FROM records WHERE {where}",
                           (start, sink)).fetchone()[0]
        first = db.execute(f"SELECT enq FROM records WHERE {where} ORDER BY seq LIMIT 1",
                           (start, sink)).fetchone()
        rows, size = self.totals()
        return Backlog(sink, int(count), int(size * count / max(rows, 1)),
                       max(0.0, time.time() - first[0]) if first else 0.0)

    def totals(self) -> tuple[int, int]:
        """(rows, bytes) in the log: bytes are keys + bodies + ``ROW_OVERHEAD`` per row (the
        file itself can be larger: SQLite reuses freed pages but does not shrink the file)."""
        got = dict(self.db.execute("SELECT key, value FROM meta WHERE key IN ('rows', 'bytes')"))
        return int(got.get("rows", 0)), int(got.get("bytes", 0))

    def used_bytes(self) -> int:
        return self.totals()[1]

    def set_link(self, sink: str, state: str, delivered: int) -> None:
        """Record a pump's link state, so a status node in another process can show it."""
        def tx(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO links VALUES (?, ?, ?, ?)",
                       (sink, state, delivered, time.time()))

        self._write(tx)

    def links(self) -> dict[str, tuple[str, int]]:
        rows = self.db.execute("SELECT sink, state, delivered FROM links")
        return {sink: (state, n) for sink, state, n in rows}

    # ---- reconciliation ---------------------------------------------------------------
    def delivered_counts(self, sink: str, since: int, until: int) -> dict[tuple[str, int], int]:
        rows = self.db.execute(
            "SELECT kind, hour, n FROM ledger WHERE sink = ? AND hour >= ? AND hour < ?",
            (sink, since, until))
        return {(kind, hour): n for kind, hour, n in rows}

    def resend(self, sink: str, kind: str, hour: int) -> int:
        """Re-enqueue, for ``sink`` only, the kept copies of what it was sent for that hour."""
        count = 0

        def tx(db: sqlite3.Connection) -> None:
            nonlocal count
            sizes = db.execute(
                "INSERT INTO records (key, kind, prio, hour, enq, target, body) "
                "SELECT key, kind, prio, hour, ?, ?, body FROM records WHERE kind = ? AND hour = ? "
                "AND target IS NULL AND seq <= (SELECT acked FROM cursors WHERE sink = ?) "
                f"ORDER BY seq RETURNING {SIZE_SQL}", (time.time(), sink, kind, hour, sink)
            ).fetchall()
            count = len(sizes)
            self.count(db, count, sum(s for (s,) in sizes))

        self._write(tx)
        if count:
            for listener in self._listeners:
                listener()
        return count
