"""The outbox on its own: order, cursors, at-least-once, kill -9 durability, bounds, ledger."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spark.bridges.outbox import Outbox, OutboxConfig, enforce
from spark.core.messages.records import HealthRecord, MetricRecord, Record, SensorRecord

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def cfg(tmp: Path, **kw: object) -> OutboxConfig:
    return OutboxConfig.model_validate({"path": str(tmp / "ob"), **kw})


def metric(i: int, pad: int = 0) -> Record:
    return MetricRecord(key=f"m{i}", device_id="d" + "x" * pad, time=T0 + timedelta(seconds=i),
                        metric_name="cpu", value=i)


def sensor(i: int, pad: int = 0) -> Record:
    return SensorRecord(key=f"s{i}", device_id="d", time=T0 + timedelta(seconds=i),
                        sensor_id="sensor.d_t", value=i, state="y" * pad or str(i))


def health(i: int, pad: int = 0) -> Record:
    return HealthRecord(key=f"h{i}", device_id="d", time=T0 + timedelta(seconds=i),
                        status="online", details={"pad": "z" * pad})


def keys(box: Outbox, sink: str, limit: int = 100_000) -> list[str]:
    return [r.key for r in box.read(sink, limit).records]


def test_order_cursors_and_at_least_once(tmp_path: Path) -> None:
    records = [f(i) for i in range(300) for f in (metric, sensor, health)]
    with Outbox(cfg(tmp_path), ["a", "b"]) as box:
        for i in range(0, len(records), 50):
            box.append(records[i:i + 50])
        got: list[str] = []
        while batch := box.read("a", 37).records:
            assert box.read("a", 37).records == batch  # not acknowledged: same batch again
            got += [r.key for r in batch]
            box.ack(box.read("a", 37))
        assert got == [r.key for r in records]
        assert box.read("a", 10).records == []
        assert box.backlog("a").count == 0 and box.backlog("b").count == 900
        first = box.read("b", 100)
        box.ack(first)
    with Outbox(cfg(tmp_path), ["a", "b"]) as box:  # cursors survive a reopen
        assert keys(box, "b", 1) == [records[100].key]
        assert box.read("a", 10).records == []
        assert box.read("b", 1000).records == records[100:]


def test_survives_kill9_of_an_appending_process(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from datetime import UTC, datetime
        from spark.bridges.outbox import Outbox, OutboxConfig
        from spark.core.messages.records import MetricRecord
        box = Outbox(OutboxConfig(path={str(tmp_path / "ob")!r}, fsync="batch"), ["s"]).open()
        now = datetime.now(UTC)
        i = 0
        while True:
            box.append([MetricRecord(key=f"k{{j}}", device_id="d", time=now, metric_name="m",
                                     value=j) for j in range(i, i + 100)])
            i += 100
            print(i, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        committed = 0
        while committed < 3000:
            committed = int(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGKILL)  # mid-append, most likely
        proc.wait(30)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    with Outbox(cfg(tmp_path), ["s"]) as box:
        assert box.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        got = keys(box, "s")
    assert len(got) >= committed and len(got) % 100 == 0  # whole transactions only
    assert got == [f"k{j}" for j in range(len(got))]


def test_full_drops_by_priority_bulk_first_critical_last(tmp_path: Path) -> None:
    with Outbox(cfg(tmp_path, max_bytes=1 << 20), ["s"]) as box:
        for i in range(0, 2400, 100):  # interleaved, ~2.4 MB in all
            box.append([f(j, 120) for j in range(i, i + 100) for f in (health, sensor, metric)])
        assert box.used_bytes() > 1 << 20
        removed = enforce(box)
        assert box.used_bytes() <= 1 << 20
        left = [r.kind for r in box.read("s", 100_000).records]
        assert left.count("health") == 2400  # CRITICAL kept
        assert removed["prio2"] > 0 and removed["prio0"] == 0
        assert removed["prio1"] == 0 or left.count("metric") <= 1  # NORMAL only once BULK is gone
        assert box.dropped == removed
        # what remains of each class is its newest part
        metrics = [r.key for r in box.read("s", 100_000).records if r.kind == "metric"]
        assert metrics == [f"m{j}" for j in range(2400 - len(metrics), 2400)]


def test_full_drops_delivered_copies_before_anything_undelivered(tmp_path: Path) -> None:
    with Outbox(cfg(tmp_path, max_bytes=1 << 20), ["s"]) as box:
        for i in range(0, 6000, 100):
            box.append([metric(j, 120) for j in range(i, i + 100)])
        assert box.used_bytes() > 1 << 20
        box.ack(box.read("s", 4000))  # delivered copies, kept for reconciliation
        removed = enforce(box)
        assert removed["delivered"] > 0 and not box.dropped
        assert box.used_bytes() <= 1 << 20
        assert len(keys(box, "s")) == 2000


def test_age_bounds_per_priority(tmp_path: Path) -> None:
    with Outbox(cfg(tmp_path, max_age_days=7, bulk_max_age_days=2, keep_delivered_hours=1),
                ["s"]) as box:
        box.append([metric(i) for i in range(50)] + [sensor(i) for i in range(50)])
        box.append([health(0)])
        now = time.time()
        assert not enforce(box, now + 3600).total()
        removed = enforce(box, now + 3 * 86400)
        assert removed["prio2"] == 50 and removed["prio1"] == 0
        assert [r.kind for r in box.read("s", 1000).records] == ["sensor"] * 50 + ["health"]
        removed = enforce(box, now + 8 * 86400)
        assert removed["prio1"] == 50
        assert keys(box, "s") == ["h0"]  # the newest row always stays (it pins the seq)
        box.append([metric(99)])
        assert keys(box, "s") == ["h0", "m99"]


def test_ledger_and_resend_for_one_sink(tmp_path: Path) -> None:
    with Outbox(cfg(tmp_path), ["a", "b"]) as box:
        box.append([metric(i) for i in range(10)] + [sensor(i) for i in range(5)])
        for sink in ("a", "b"):
            box.ack(box.read(sink, 100))
        hour = int(T0.timestamp())
        assert box.delivered_counts("a", hour, hour + 3600) == {("metric", hour): 10,
                                                                ("sensor", hour): 5}
        assert box.resend("a", "sensor", hour) == 5
        assert keys(box, "a") == [f"s{i}" for i in range(5)] and keys(box, "b") == []
        box.ack(box.read("a", 100))  # re-sends are not counted twice
        assert box.delivered_counts("a", hour, hour + 3600)[("sensor", hour)] == 5


def test_unknown_sink_and_strict_config(tmp_path: Path) -> None:
    with Outbox(cfg(tmp_path), ["a"]) as box, pytest.raises(Exception, match="unknown sink"):
        box.read("zz", 1)
    with pytest.raises(ValueError, match="bulk_max_age_days"):
        cfg(tmp_path, max_age_days=1, bulk_max_age_days=2)
    with sqlite3.connect(tmp_path / "ob" / "outbox.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
