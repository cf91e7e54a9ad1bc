"""Keeping the outbox bounded by age and size, with an explicit order of what goes first.

Run every ``check_interval`` seconds (the bridge's maintenance task), so the size may overshoot
by what arrives in between. Each pass:

1. **Age.** Delivered copies older than ``keep_delivered_hours`` go (normal housekeeping, not
   a loss). Undelivered BULK records (telemetry) older than ``bulk_max_age_days`` and undelivered
   CRITICAL / NORMAL records older than ``max_age_days`` are dropped.
2. **Size.** While the log uses more than ``max_bytes``, rows are dropped oldest first, in this
   order: delivered copies (only reconciliation loses), then undelivered BULK (telemetry), then
   NORMAL (sensors, inference, events), then CRITICAL (health, commands) last. It frees down to
   95 % of ``max_bytes`` so it does not run on every pass.

"Undelivered" means some sink's cursor has not passed the row yet. Every drop of an undelivered
record is counted in ``Outbox.dropped`` (``prio0``..``prio2``) and logged with the totals. The
newest row is always kept (it pins the ``seq`` counter, see store.py).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter

from spark.bridges.outbox.store import Outbox
from spark.core.messages.records import Priority

log = logging.getLogger(__name__)

DAY = 86400.0
CHUNK_MIN = 1000


def _min_cursor(db: sqlite3.Connection, sinks: list[str]) -> int:
    if not sinks:
        row = db.execute("SELECT max(seq) FROM records").fetchone()
        return int(row[0] or 0)
    marks = ",".join("?" * len(sinks))
    row = db.execute(f"SELECT min(acked) FROM cursors WHERE sink IN ({marks})", sinks).fetchone()
    return int(row[0] or 0)


def enforce(outbox: Outbox, now: float | None = None) -> Counter[str]:
    """One pass of the age and size bounds; returns what was removed by class."""
    now = time.time() if now is None else now
    cfg = outbox.cfg
    db = outbox.db
    removed: Counter[str] = Counter()

    def tx(db: sqlite3.Connection) -> None:
        top = int(db.execute("SELECT max(seq) FROM records").fetchone()[0] or 0)
        delivered = min(_min_cursor(db, outbox.sinks), top - 1)
        # Rows are appended with a rising enqueue time: old rows are a prefix of the log.
        for cls, cut, prio_sql in (
            ("delivered", now - cfg.keep_delivered_hours * 3600, None),
            ("prio2", now - cfg.bulk_max_age_days * DAY, "prio = 2"),
            ("prio1", now - cfg.max_age_days * DAY, "prio < 2"),
        ):
            row = db.execute("SELECT seq FROM records WHERE enq >= ? ORDER BY seq LIMIT 1",
                             (cut,)).fetchone()
            edge = min(int(row[0]) if row else top, top)
            if cls == "delivered":
                removed[cls] += outbox.delete(db, "seq < ? AND seq <= ? AND enq < ?",
                                              (edge, delivered, cut))
                continue
            for prio in ((2,) if prio_sql == "prio = 2" else (1, 0)):
                removed[f"prio{prio}"] += outbox.delete(
                    db, "seq < ? AND seq > ? AND prio = ? AND enq < ?",
                    (edge, delivered, prio, cut))
        db.execute("DELETE FROM ledger WHERE hour < ?",
                   (int(now - cfg.keep_delivered_hours * 3600 - 2 * 3600),))

    outbox._write(tx)
    _shrink(outbox, removed, _min_cursor(db, outbox.sinks))
    lost = {k: v for k, v in removed.items() if k != "delivered" and v}
    if lost:
        outbox.dropped.update(lost)
        log.warning("outbox bound reached: dropped %s undelivered record(s) now (%s); totals "
                    "since start: %s", sum(lost.values()), _fmt(lost), _fmt(outbox.dropped))
    return removed


def _shrink(outbox: Outbox, removed: Counter[str], min_cursor: int) -> None:
    cfg = outbox.cfg
    used = outbox.used_bytes()
    if used <= cfg.max_bytes:
        return
    goal = int(cfg.max_bytes * 0.95)
    rows, _ = outbox.totals()
    per_row = max(1, used // max(rows, 1))
    classes = [("delivered", "seq <= ?", min_cursor)] + [
        (f"prio{int(p)}", f"seq > ? AND prio = {int(p)}", min_cursor)
        for p in (Priority.BULK, Priority.NORMAL, Priority.CRITICAL)]
    for cls, cond, arg in classes:
        while used > goal:
            chunk = max(CHUNK_MIN, (used - goal) // per_row + 1)
            count = 0

            def tx(db: sqlite3.Connection, cond: str = cond, arg: int = arg,
                   chunk: int = chunk) -> None:
                nonlocal count
                count = outbox.delete(
                    db, f"seq IN (SELECT seq FROM records WHERE {cond} "
                    "AND seq < (SELECT max(seq) FROM records) ORDER BY seq LIMIT ?)", (arg, chunk))

            outbox._write(tx)
            if count <= 0:
                break
            removed[cls] += count
            used = outbox.used_bytes()


def _fmt(counts: Counter[str] | dict[str, int]) -> str:
    names = {"delivered": "delivered copies", "prio0": "CRITICAL", "prio1": "NORMAL",
             "prio2": "BULK"}
    return ", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(counts.items()) if v)
