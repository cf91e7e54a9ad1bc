"""The bridge end to end on a real Mosquitto: MQTT -> outbox -> two real sinks (SQLite tables,
tests/test_bridge_sqlsink.py); sink outages, ``kill -9`` of the bridge, reconciliation.

Exact counts: every state message carries a distinct value, and each test ends its stream with a
marker (``spark/end/availability``) published after everything else on the same connection, so
once the marker is in a sink every earlier message (and any redelivery) has been handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from broker_fixture import ADMIN, HUB, RunningBroker
from helpers import Recorder, wait_for
from test_bridge_sqlsink import Outage, SqliteSink, sink_rows

from spark.app.config.models import SparkConfig
from spark.bridges.ingest.warnlimit import WarnLimiter
from spark.bridges.runtime import Bridge, run_sync
from spark.core.agent.discovery import DeviceInfo, DiscoveryContext, entity_config
from spark.core.agent.entities import Image

HERE = Path(__file__).resolve().parent
END = "spark/end/availability"


@pytest.fixture
def broker(fresh_broker: RunningBroker) -> RunningBroker:
    """A broker of the test's own: the bridge counts every message it reads (malformed ones, on
    its wildcard subscriptions, retained replays included), so what other files' tests left
    retained on the session broker would change the counts (seen when the suite runs in two
    worker processes, each file after a different set of others)."""
    return fresh_broker


def bridge_config(broker: RunningBroker, tmp: Path, **outbox: Any) -> SparkConfig:
    return broker.spark_config(bridges={
        "outbox": {"path": str(tmp / "outbox"), **outbox},
        "ingest": {"client_id": f"test-bridge-{uuid.uuid4().hex[:8]}", "commit_ms": 5},
        "backoff_max": 0.5,
    })


def publish_many(broker: RunningBroker, messages: Iterable[tuple[str, bytes | str, bool]]
                 ) -> None:
    """Publish at QoS 1 as the admin user and wait for every PUBACK (blocking: use a thread)."""
    pub = Recorder(broker.host, broker.port, ADMIN, broker.passwords[ADMIN])
    try:
        pub.connect()
        infos = [pub.client.publish(t, p, 1, r) for t, p, r in messages]
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        pub.close()


def states(node: str, n: int, start: int = 0) -> list[tuple[str, bytes | str, bool]]:
    return [(f"spark/{node}/load_{i % 10}/state", str(i), False) for i in range(start, n)]


def values(path: Path) -> list[int]:
    """The values of the ``load_<n>`` states stored in a sink, sorted (duplicates stay)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT body FROM rows WHERE kind = 'sensor'").fetchall()
    bodies = [orjson.loads(b) for (b,) in rows]
    return sorted(int(b["state"]) for b in bodies if "_load_" in b["sensor_id"])


def ended(path: Path) -> bool:
    return any(k.startswith("health:end:") for k in sink_rows(path, "health"))


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[Bridge]:
    ready = asyncio.Event()
    task = asyncio.create_task(bridge.run(ready), name="test-bridge")
    try:
        async with asyncio.timeout(15):
            await ready.wait()
        yield bridge
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def two_sinks(tmp: Path, outage: Outage | None = None) -> dict[str, Any]:
    return {"a": lambda: SqliteSink(tmp / "a.db", outage), "b": lambda: SqliteSink(tmp / "b.db")}


async def test_full_path_every_kind_exact(broker: RunningBroker, tmp_path: Path) -> None:
    cfg = bridge_config(broker, tmp_path)
    bridge = Bridge(cfg.bridge_settings(), password=broker.passwords[HUB],
                    sinks=two_sinks(tmp_path), status=False)
    temp_cfg = {"name": "Temp", "state_topic": "spark/lab/temp/state", "unit_of_measurement": "°C",
                "unique_id": "lab_temp", "default_entity_id": "sensor.lab_temp"}
    bell_cfg = {"name": "Bell", "state_topic": "spark/lab/bell/state", "event_types": ["press"],
                "unique_id": "lab_bell", "default_entity_id": "event.lab_bell"}
    telemetry = {"v": 1, "node": "lab", "time": "2025-06-01T12:00:00+00:00",
                 "metrics": {"lab": {"cpu": 3.5, "load_1": 0.2}, "lab_sda": {"temperature": 34}}}
    inference = {"id": "cam-1", "time": "2025-06-01T12:00:01+00:00", "camera": "door",
                 "model": "hog", "model_name": "hog", "latency_ms": 21.5, "counts": {"person": 1}}
    async with running(bridge):
        await asyncio.to_thread(publish_many, broker, [
            ("homeassistant/sensor/lab/temp/config", json.dumps(temp_cfg), True),
            ("homeassistant/event/lab/bell/config", json.dumps(bell_cfg), True),
            ("spark/lab/temp/state", "21.5", False),
            ("spark/lab/temp/state", "unavailable", False),
            ("spark/lab/bell/state", json.dumps({"event_type": "press", "n": 1}), False),
            ("spark/lab/telemetry", orjson.dumps(telemetry), False),
            ("spark/lab/availability", "online", False),
            ("spark/cam/inference", json.dumps(inference), False),
            # malformed: logged and dropped, the loop goes on
            ("spark/lab/telemetry", b"{not json", False),
            ("spark/lab/availability", "maybe", False),
            ("spark/lab/bell/state", "no-json", False),
            ("spark/cam/inference", b"[]", False),
            *states("many", 500),
            (END, "online", False),
        ])
        for db in ("a.db", "b.db"):
            await wait_for(lambda db=db: ended(tmp_path / db), 15, what=f"end marker in {db}")
        assert bridge.ingest is not None and bridge.ingest.malformed == 4
    for db in ("a.db", "b.db"):
        path = tmp_path / db
        assert values(path) == list(range(500))
        with sqlite3.connect(path) as conn:
            rows = {k: orjson.loads(b) for k, b in conn.execute("SELECT key, body FROM rows")}
        kinds = sorted(r["kind"] for r in rows.values())
        assert kinds.count("metric") == 3 and kinds.count("event") == 1
        assert kinds.count("inference") == 1 and kinds.count("health") == 2
        assert kinds.count("sensor") == 502
        temp = [r for r in rows.values() if r["kind"] == "sensor" and r["device_id"] == "lab"
                and r["sensor_id"] == "sensor.lab_temp"]
        assert {(r["value"], r["state"], r["unit"]) for r in temp} == {
            (21.5, "21.5", "°C"), (None, "unavailable", "°C")}
        bell = next(r for r in rows.values() if r["kind"] == "event")
        assert (bell["event_type"], bell["source"], bell["data"]) == ("press", "event.lab_bell",
                                                                      {"n": 1})
        assert "inference:cam:cam-1" in rows and "metric:lab_sda:temperature:" in " ".join(rows)


async def test_sink_outage_then_recovery_exact(broker: RunningBroker, tmp_path: Path) -> None:
    cfg = bridge_config(broker, tmp_path)
    outage = Outage()
    bridge = Bridge(cfg.bridge_settings(), password=broker.passwords[HUB],
                    sinks=two_sinks(tmp_path, outage), status=False)
    async with running(bridge):
        await asyncio.to_thread(publish_many, broker, states("out", 1000))
        await wait_for(lambda: len(sink_rows(tmp_path / "a.db")) == 1000, 15)
        outage.down = True
        await asyncio.to_thread(publish_many, broker, states("out", 3000, 1000))
        await wait_for(lambda: len(sink_rows(tmp_path / "b.db")) == 3000, 15)
        await wait_for(lambda: bridge.pumps["a"].failures > 0, 15)
        assert bridge.outbox.backlog("a").count == 2000
        assert bridge.snapshot()["a"]["backlog"] == 2000
        outage.down = False
        await asyncio.to_thread(publish_many, broker, [*states("out", 3500, 3000),
                                                       (END, "online", False)])
        for db in ("a.db", "b.db"):
            await wait_for(lambda db=db: ended(tmp_path / db), 20, what=f"end marker in {db}")
        await wait_for(lambda: bridge.outbox.backlog("a").count == 0, 10)  # acked after write
    assert values(tmp_path / "a.db") == values(tmp_path / "b.db") == list(range(3500))


def _spawn(cfg_path: Path, sink_dir: Path, password: str, kill_after: int = 0
           ) -> subprocess.Popen[str]:
    env = {**os.environ, "SPARK_BRIDGE_PASSWORD": password,
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, str(HERE / "test_bridge_sqlsink.py"), str(cfg_path), str(sink_dir)]
    proc = subprocess.Popen([*args, *([str(kill_after)] if kill_after else [])], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    proc.stdout.close()
    assert line.strip() == "ready", f"bridge did not start: {line!r}"
    return proc


async def test_kill9_mid_batch_then_restart_exact(fresh_broker: RunningBroker,
                                                   tmp_path: Path) -> None:
    cfg = bridge_config(fresh_broker, tmp_path)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(cfg.model_dump_json())
    password = fresh_broker.passwords[HUB]
    n = 6000
    procs: list[subprocess.Popen[str]] = []
    try:
        # 1: dies right after its 3rd commit, before acknowledging that batch to the broker.
        procs.append(proc := await asyncio.to_thread(_spawn, cfg_path, tmp_path, password, 3))
        publisher = asyncio.create_task(asyncio.to_thread(publish_many, fresh_broker,
                                                          states("kill", n)))
        assert await asyncio.to_thread(proc.wait, 30) == -signal.SIGKILL
        # 2: killed from outside while batches flow.
        procs.append(proc := await asyncio.to_thread(_spawn, cfg_path, tmp_path, password))
        await wait_for(lambda: len(sink_rows(tmp_path / "a.db")) > 100, 30)
        proc.kill()
        await asyncio.to_thread(proc.wait, 30)
        await publisher
        await asyncio.to_thread(publish_many, fresh_broker, [(END, "online", False)])
        # 3: a clean run delivers the rest: each value exactly once in both sinks.
        procs.append(await asyncio.to_thread(_spawn, cfg_path, tmp_path, password))
        for db in ("a.db", "b.db"):
            await wait_for(lambda db=db: ended(tmp_path / db), 30, what=f"end marker in {db}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 30)
    assert values(tmp_path / "a.db") == values(tmp_path / "b.db") == list(range(n))


async def test_reconciliation_resends_a_gap(broker: RunningBroker, tmp_path: Path) -> None:
    cfg = bridge_config(broker, tmp_path)
    sinks = two_sinks(tmp_path)
    bridge = Bridge(cfg.bridge_settings(), password=broker.passwords[HUB], sinks=sinks,
                    status=False)
    async with running(bridge):
        await asyncio.to_thread(publish_many, broker, [*states("rec", 800),
                                                       (END, "online", False)])
        for db in ("a.db", "b.db"):
            await wait_for(lambda db=db: ended(tmp_path / db), 15)
        with sqlite3.connect(tmp_path / "a.db") as db:
            db.execute("DELETE FROM rows WHERE rowid % 7 = 0")
        assert len(values(tmp_path / "a.db")) < 800
        gaps = await bridge.sync_once()
        assert [(g.sink, g.kind, g.delivered) for g in gaps] == [("a", "sensor", 800)]
        await wait_for(lambda: len(values(tmp_path / "a.db")) == 800, 15)
        assert await bridge.sync_once() == []
    # the one-shot CLI path (spark bridge sync) does the same from a process of its own
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.execute("DELETE FROM rows WHERE kind = 'sensor' AND rowid % 3 = 0")
    gaps = await run_sync(cfg.bridge_settings(), sinks)
    assert {g.sink for g in gaps} == {"b"}
    assert values(tmp_path / "a.db") == values(tmp_path / "b.db") == list(range(800))


async def test_malformed_messages_warn_once_per_topic_and_reason_and_images_never(
        broker: RunningBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The vision node's snapshots (binary, on the image entity's ``image_topic``) are neither
    records nor malformed; a device repeating one bad payload is reported once (an hour)."""
    cfg = bridge_config(broker, tmp_path)
    bridge = Bridge(cfg.bridge_settings(), password=broker.passwords[HUB],
                    sinks=two_sinks(tmp_path), status=False)
    snapshot, layout = Image(key="demo_snapshot"), cfg.mqtt.layout()
    ctx = DiscoveryContext(layout=layout, node_id="vision", hub_id="hub",
                           unique_prefix="spark_test_vision",
                           device=DeviceInfo(identifier="spark_test_vision", name="Vision",
                                             model="test"))
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))
    caplog.set_level(logging.WARNING, "bridges.ingest")
    async with running(bridge):
        await asyncio.to_thread(publish_many, broker, [
            (layout.discovery("image", "vision", "demo_snapshot"),
             json.dumps(entity_config(snapshot, ctx)), False),
            *[(layout.state("vision", "demo_snapshot"), jpeg, False) for _ in range(3)],
            *[("spark/lab/availability", "maybe", False) for _ in range(3)],
            ("spark/lab/availability", "perhaps", False),
            ("spark/lab2/availability", "maybe", False),
            (END, "online", False),
        ])
        await wait_for(lambda: ended(tmp_path / "a.db"), 15, what="end marker")
        assert bridge.ingest is not None and bridge.ingest.malformed == 5
    warned = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert not [w for w in warned if "demo_snapshot" in w]
    assert len([w for w in warned if "'spark/lab/availability'" in w and "'maybe'" in w]) == 1
    assert len([w for w in warned if "'spark/lab/availability'" in w and "'perhaps'" in w]) == 1
    assert len([w for w in warned if "'spark/lab2/availability'" in w]) == 1


def test_warn_limiter_once_per_key_and_period() -> None:
    limiter = WarnLimiter(period=3600, max_keys=2)
    a, b, c = ("t/a", "bad"), ("t/b", "bad"), ("t/c", "bad")
    assert limiter.allow(a, 0) == 0
    assert [limiter.allow(a, t) for t in (1, 2, 3599)] == [None, None, None]
    assert limiter.allow(b, 10) == 0
    assert limiter.allow(c, 20) is None and limiter.unreported == 1  # full: only counted
    assert limiter.allow(a, 3600) == 3  # an hour on: said again, with what was kept quiet
    assert limiter.allow(c, 3610) == 0  # b's hour is over: room again
