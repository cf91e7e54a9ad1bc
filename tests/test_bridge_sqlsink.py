"""A real :class:`Sink` on a local SQLite table, for the bridge tests, and its own contract tests.

``SqliteSink`` keeps one row per record key (``INSERT OR IGNORE``: replays are dropped), returns
from ``write`` after the commit, and raises :class:`SinkError` while its :class:`Outage` says the
link is down (``probe`` says so too; ``refusing``: the link is up but ``open`` fails). Run as
a script it is the bridge process of the crash tests::

    python tests/test_bridge_sqlsink.py CONFIG.json SINK_DIR [KILL_AFTER_COMMITS]

which runs :class:`bridges.runtime.Bridge` with two SQLite sinks (``a`` and ``b``) and, with
``KILL_AFTER_COMMITS``, SIGKILLs itself right after that many outbox commits (before the MQTT
acknowledgements go out).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spark.bridges.sinks.base import Sink, SinkError
from spark.core.messages.records import HealthRecord, MetricRecord, Record


@dataclass
class Outage:
    down: bool = False  # the link is down: open, write and probe fail
    refusing: bool = False  # the link is up (probes succeed) but open fails
    opens: int = 0  # open attempts
    probes: int = 0


class SqliteSink(Sink):
    type = "sqlite-test"

    def __init__(self, path: Path, outage: Outage | None = None) -> None:
        self.path = path
        self.outage = outage or Outage()
        self.db: sqlite3.Connection | None = None

    async def open(self) -> None:
        self.outage.opens += 1
        if self.outage.down or self.outage.refusing:
            raise SinkError(f"{self.path.name}: link down" if self.outage.down
                            else f"{self.path.name}: refused")
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, kind TEXT, "
                        "hour INTEGER, body BLOB)")

    async def write(self, batch: Sequence[Record]) -> None:
        if self.outage.down or self.db is None:
            raise SinkError(f"{self.path.name}: link down")
        rows = [(r.key, r.kind, int(r.time.timestamp()) // 3600 * 3600, r.to_payload())
                for r in batch]
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR IGNORE INTO rows VALUES (?, ?, ?, ?)", rows)
        self.db.execute("COMMIT")

    async def probe(self) -> bool:
        self.outage.probes += 1
        return not self.outage.down

    async def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    async def counts_per_hour(self, since: float, until: float) -> dict[tuple[str, int], int]:
        assert self.db is not None
        rows = self.db.execute("SELECT kind, hour, count(*) FROM rows WHERE hour >= ? AND "
                               "hour < ? GROUP BY kind, hour", (since, until))
        return {(kind, hour): n for kind, hour, n in rows}


def sink_rows(path: Path, kind: str | None = None) -> list[str]:
    """Keys stored in a sink's table (empty before its first open)."""
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=10) as db:
        try:
            sql = "SELECT key FROM rows" + (" WHERE kind = ?" if kind else "")
            return [k for (k,) in db.execute(sql, (kind,) if kind else ())]
        except sqlite3.OperationalError:
            return []


# ---- the sink's own contract ----------------------------------------------------------------
def _records(n: int) -> list[Record]:
    now = datetime.now(UTC)
    out: list[Record] = [MetricRecord(key=f"m{i}", device_id="d", time=now, metric_name="x",
                                      value=i) for i in range(n)]
    return [*out, HealthRecord(key="h", device_id="d", time=now, status="online")]


async def test_sqlite_sink_is_idempotent_and_counts(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "s.db")
    await sink.open()
    batch = _records(5)
    await sink.write(batch)
    await sink.write(batch[2:])  # a replay
    hour = int(batch[0].time.timestamp()) // 3600 * 3600
    counts = await sink.counts_per_hour(hour, hour + 3600)
    assert counts == {("metric", hour): 5, ("health", hour): 1}
    await sink.close()
    await sink.close()


async def test_sqlite_sink_down_raises(tmp_path: Path) -> None:
    outage = Outage(down=True)
    sink = SqliteSink(tmp_path / "s.db", outage)
    with pytest.raises(SinkError):
        await sink.open()
    outage.down = False
    await sink.open()
    outage.down = True
    with pytest.raises(SinkError):
        await sink.write(_records(1))
    await sink.close()


# ---- the bridge process of the crash tests ----------------------------------------------------
def _main(argv: list[str]) -> None:
    from spark.app.config.models import SparkConfig
    from spark.bridges.runtime import Bridge

    logging.basicConfig(level=logging.INFO, format="bridge-proc %(levelname)s %(message)s")
    cfg = SparkConfig.model_validate_json(Path(argv[0]).read_text()).bridge_settings()
    sink_dir = Path(argv[1])
    kill_after = int(argv[2]) if len(argv) > 2 else 0
    bridge = Bridge(cfg, password=os.environ.get("SPARK_BRIDGE_PASSWORD"), status=False,
                    sinks={"a": lambda: SqliteSink(sink_dir / "a.db"),
                           "b": lambda: SqliteSink(sink_dir / "b.db")})
    commits = 0

    def after_commit() -> None:
        nonlocal commits
        commits += 1
        if kill_after and commits >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # committed, not yet acknowledged

    bridge.on_commit(after_commit)

    async def main() -> None:
        ready = asyncio.Event()
        task = asyncio.create_task(bridge.run(ready))
        await ready.wait()
        print("ready", flush=True)
        await task

    asyncio.run(main())


if __name__ == "__main__":
    _main(sys.argv[1:])
