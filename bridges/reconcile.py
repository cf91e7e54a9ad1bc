"""Reconciliation: per sink and hour, what the sink holds against what the outbox delivered.

The outbox's ledger counts, per sink, kind and hour of the record's time, every record a sink
acknowledged (re-sends are not counted twice). :func:`reconcile` asks each sink for its own
counts (:meth:`Sink.counts_per_hour`) over the window the outbox still keeps delivered copies
for (``outbox.keep_delivered_hours``); wherever the sink has fewer, that hour's kept records are
re-enqueued for that sink alone and the pump delivers them again (the sink drops the ones it
has by key). Runs every ``bridges.reconcile_minutes`` and on demand (``spark bridge sync``).

How each sink counts: TimescaleDB / PostgreSQL with a ``count(*)`` per table and hour (replays
are dropped by its unique key, so rows are distinct records); Kafka by reading its topics back
over its last ``reconcile_hours`` and counting distinct idempotency keys (re-sent copies count
once), bounded by ``reconcile_max_messages`` and ``reconcile_timeout``
(see ``bridges/sinks/kafka/counts.py``).
On Kafka a re-sent hour lands again in full; consumers drop the copies by key.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

from spark.bridges.outbox.store import Outbox
from spark.bridges.pump import SinkFactory
from spark.bridges.sinks.base import SinkError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Gap:
    sink: str
    kind: str
    hour: int
    delivered: int
    found: int
    resent: int


async def reconcile(outbox: Outbox, sinks: dict[str, SinkFactory], window_hours: float,
                    now: float | None = None) -> list[Gap]:
    """Compare and re-enqueue; returns the gaps found (a sink that cannot count is skipped)."""
    now = time.time() if now is None else now
    since = (int(now - window_hours * 3600) // 3600 + 1) * 3600  # whole hours still kept
    until = int(now) // 3600 * 3600 + 3600
    gaps: list[Gap] = []
    for name, make_sink in sinks.items():
        sink = make_sink()
        # A sink that can only look back so far (Kafka: ``reconcile_hours``) is compared over
        # those hours alone: older ones would look empty there and be re-sent at every run.
        hours = getattr(sink, "reconcile_hours", None)
        start = since if hours is None else max(since, until - int(hours) * 3600)
        ours = outbox.delivered_counts(name, start, until)
        if not ours:
            continue
        try:
            await sink.open()
            theirs = await sink.counts_per_hour(float(start), float(until))
        except NotImplementedError as exc:
            log.info("bridge: reconciliation skips %s: %s", name, exc)
            continue
        except SinkError as exc:
            log.warning("bridge: reconciliation of %s postponed: %s", name, exc)
            continue
        finally:
            with contextlib.suppress(Exception):
                await sink.close()
        for (kind, hour), n in sorted(ours.items(), key=lambda kv: kv[0][1]):
            found = theirs.get((kind, hour), 0)
            if found < n:
                resent = outbox.resend(name, kind, hour)
                gaps.append(Gap(name, kind, hour, n, found, resent))
                log.warning("bridge: %s holds %d of %d %s record(s) for hour %s; re-sending %d",
                            name, found, n, kind, time.strftime("%Y-%m-%d %H:00Z",
                                                               time.gmtime(hour)), resent)
    return gaps
