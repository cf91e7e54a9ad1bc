"""The outbox: one durable, ordered log of records in SQLite (WAL), a cursor per sink.

Why SQLite in WAL mode rather than a segmented append-only file: ``python -m bench outbox``
(bench/bridge_outbox.py) on this machine (2 cores, shared virtual disk), 100k record bodies of
~200 bytes, appends/s by records per commit:

  ==================================  =========  =========  =========  ===========
  store                               10         100        1,000      read back/s
  ==================================  =========  =========  =========  ===========
  SQLite WAL, synchronous=FULL        21,000     153,000    225,000    1.7 M
  SQLite WAL, synchronous=NORMAL      188,000    275,000    237,000    1.5 M
  SQLite WAL, synchronous=OFF         312,000    491,000    482,000    2.1 M
  append-only file, fsync per batch   13,000     134,000    313,000
  append-only file, no fsync          1.6 M      1.8 M      2.4 M
  ==================================  =========  =========  =========  ===========

(A run earlier that day, with less else writing to the disk, gave 48k / 199k / 318k for FULL
and 48k / 77k / 978k for the file with fsync: fsync latency swings between ~0.2 and ~8 ms.)
Where durability is paid, i.e. with an fsync per commit at the 100-1,000 records the ingest
commits at once, both stores are within the same factor and far above the ~20,000 msg/s one
Python MQTT subscriber takes; the file log wins only without fsync or with huge batches. What
the file log would need and SQLite gives for free: dropping records out of the middle of the
log by priority when full, per-sink cursors and a delivered-count ledger committed atomically
with the data, re-enqueueing a gap for one sink, crash recovery with checksummed frames, and
several processes (``spark bridge ingest`` / ``timescale`` / ``kafka`` / ``sync``) sharing
the log safely.

Layout: ``records(seq, key, kind, prio, hour, enq, target, body)`` in append order; ``body`` is
the record's own wire form. A sink reads rows with ``seq`` above its cursor (``target`` NULL
= every sink, else re-sent for that sink only), writes them, then :meth:`Outbox.ack` moves its
cursor and adds the batch to the per-hour ``ledger`` in one transaction. Rows every sink has
passed stay ``keep_delivered_hours`` for reconciliation. The newest row is never deleted, so
SQLite never hands out a ``seq`` again (a cursor would skip it).

Fsync policies (``OutboxConfig.fsync``; every one survives ``kill -9``, as committed pages are
in the OS cache):

* ``batch`` (default): SQLite runs with ``synchronous=NORMAL`` (a commit writes the WAL, no
  sync) and the ingest fsyncs the WAL itself, one fsync on a worker thread covering every batch
  committed before it started, before it acknowledges those batches' MQTT messages. Nothing
  acknowledged is lost on a power cut; fsyncs group as the disk slows (0.2 to 8 ms here,
  depending on what else writes).
* ``always``: the same with one message per commit: lowest latency per message, fewest msg/s.
* ``interval``: ``synchronous=NORMAL`` and an fsync every ``fsync_interval`` s; messages are
  acknowledged at commit, so a power cut loses up to that much acknowledged data.
* ``never``: ``synchronous=OFF``; a power cut can lose acknowledged data or corrupt the log.
"""

from spark.bridges.outbox.bounds import enforce
from spark.bridges.outbox.config import OutboxConfig
from spark.bridges.outbox.store import Backlog, Batch, Outbox, OutboxError

__all__ = ["Backlog", "Batch", "Outbox", "OutboxConfig", "OutboxError", "enforce"]
