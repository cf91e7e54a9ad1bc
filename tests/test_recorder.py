"""The recorder (local history) on SQLite and PostgreSQL, with a real Mosquitto, hub and node.

PostgreSQL: ``pg_url`` (a new database on the session's throwaway cluster, or on the machine's
server without the binaries) and ``fresh_postgres`` (a private cluster the outage test stops and
starts), from tests/pg_fixture.py.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from helpers import wait_for
from lab import running_hub, running_node
from pg_fixture import PgCluster
from pydantic import ValidationError
from sqlalchemy.engine import URL

from spark.core.events import EntityFired, EventBus, StateChanged
from spark.core.link import LinkState
from spark.hub.recorder import (
    BucketPoint,
    Recorder,
    RecorderConfig,
    RecorderError,
    StatePoint,
)
from spark.hub.recorder import queries as q
from spark.hub.registry import Registry

FAST = {"commit_interval": 0.05, "retry_min": 0.05, "retry_max": 0.2}
NODE = {"id": "sim1", "kind": "simulated", "seed": 1, "state_interval": 3600}


# ---- stores --------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    dsn = str(request.getfixturevalue("pg_url"))
    if "://" in dsn:
        return dsn
    parts = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}  # key=value
    return URL.create("postgresql", username=parts.get("user"), password=parts.get("password"),
                      host=parts.get("host"), port=int(parts.get("port") or 5432),
                      database=parts.get("dbname")).render_as_string(hide_password=False)


@pytest.fixture
def bus_recorder(store_url: str):
    """A recorder on its own bus (events emitted by the test), running for the test."""
    async def start(**config: object) -> tuple[EventBus, Recorder, asyncio.Task[None]]:
        bus = EventBus()
        rec = Recorder(RecorderConfig.model_validate({"url": store_url, **FAST, **config}), bus)
        task = asyncio.create_task(rec.run(), name="test-recorder")
        await wait_for(lambda: rec.state is LinkState.UP, 10)
        return bus, rec, task
    return start


def ready(reg: Registry, entity_id: str, state: str | None = None) -> bool:
    """The node's entity is registered, available (after a previous test's node went offline)
    and, when given, in ``state``."""
    record = reg.get(entity_id)
    return record is not None and record.available and (state is None or record.state == state)


async def flushed(rec: Recorder, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        await rec.flush()


async def stopped(rec: Recorder, task: asyncio.Task[None]) -> None:
    rec.stop()
    async with asyncio.timeout(20):
        await task


# ---- end to end: hub + simulated node ------------------------------------------------------------
async def test_lamp_toggles_recorded_in_order(broker, store_url):
    cfg = broker.spark_config(nodes=[NODE], recorder={"url": store_url, **FAST})
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]):
        reg, rec = hub.registry, hub.recorder
        assert rec is not None
        await wait_for(lambda: ready(reg, "switch.sim1_lamp", "off"), 10)
        await flushed(rec)
        t1 = time.time()
        for _ in range(6):
            await hub.services.call("toggle", "switch.sim1_lamp", wait=True)
        await flushed(rec)
        points = await rec.history("switch.sim1_lamp", t1, initial=True)
        assert [p.state for p in points] == ["off", "on", "off", "on", "off", "on", "off"]
        assert points[0].time < t1 <= points[1].time  # the state in force at t1, then changes
        times = [p.time for p in points]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert all(isinstance(p, StatePoint) and p.value is None for p in points)

        lamp, temp = await rec.entity("switch.sim1_lamp"), await rec.entity(
            "sensor.sim1_temperature")
        assert lamp is not None and lamp.platform == "switch" and lamp.chart == "timeline"
        assert temp is not None and temp.unit == "°C" and temp.device_class == "temperature"
        assert temp.chart == "line" and temp.name == "Sim1 Temperature"
        assert rec.stats.dropped == rec.stats.lost == rec.bus_dropped == 0
        assert rec.health() == "healthy"


async def test_numeric_sensor_history_bucketed(broker, store_url):
    """Values from the node through MQTT; SQL buckets equal buckets computed from raw rows."""
    cfg = broker.spark_config(nodes=[NODE], recorder={"url": store_url, **FAST})
    pw = broker.passwords
    values = [20.0, 20.5, 21.25, 19.75, 22.0, 23.5, 18.0, 21.0, 20.25, 24.0, 22.5, 19.0]
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]) as node:
        reg, rec = hub.registry, hub.recorder
        assert rec is not None
        await wait_for(lambda: ready(reg, "sensor.sim1_temperature", "21.0"), 10)
        t1 = time.time()
        for value in values:
            node.set_state("temperature", value)
            await wait_for(lambda v=value: reg.get("sensor.sim1_temperature").state == str(v), 5)
        await flushed(rec)
        raw = await rec.history("sensor.sim1_temperature", t1)
        assert [p.value for p in raw] == values
        bucket = timedelta(seconds=max((raw[-1].time - raw[0].time) / 3.5, 1e-3))
        width = bucket.total_seconds()  # whole microseconds
        got = await rec.history("sensor.sim1_temperature", t1, bucket=bucket)
        expected: dict[int, list[StatePoint]] = {}
        for p in raw:
            expected.setdefault(math.floor(p.time / width), []).append(p)
        assert len(got) == len(expected) >= 2
        for point, (index, members) in zip(got, sorted(expected.items()), strict=True):
            nums = [p.value for p in members if p.value is not None]
            assert isinstance(point, BucketPoint)
            assert point.start == pytest.approx(index * width)
            assert point.count == point.numeric_count == len(members)
            assert point.avg == pytest.approx(sum(nums) / len(nums))
            assert (point.min, point.max) == (min(nums), max(nums))
            assert point.state == members[-1].state


async def test_doorbell_node_events_and_availability_recorded(broker, store_url):
    cfg = broker.spark_config(nodes=[NODE], recorder={"url": store_url, **FAST})
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub:
        rec, reg = hub.recorder, hub.registry
        assert rec is not None
        t1 = time.time()
        async with running_node(cfg, "sim1", pw["sim1"]):
            await wait_for(lambda: ready(reg, "button.sim1_identify")
                           and ready(reg, "event.sim1_doorbell")
                           and ready(reg, "switch.sim1_lamp", "off"), 10)
            with hub.bus.subscribe((EntityFired,)) as fired:
                for _ in range(2):
                    await hub.services.call("press", "button.sim1_identify")
                    async with asyncio.timeout(5):
                        await fired.get()
            await flushed(rec)
            got = await rec.events("event.sim1_doorbell", t1)
            assert [(e.event_type, e.data) for e in got if e.event_type == "press"] == [
                ("press", {"source": "identify"})] * 2
            assert got[0].time >= got[1].time  # newest first
            added = await rec.events("event.sim1_doorbell", 0, event_type="entity_added")
            assert added and added[0].data["platform"] == "event"

        # the node stopped: its offline availability is an event of the hub, and its entities
        # are recorded unavailable
        async def node_offline() -> bool:
            await rec.flush()
            return any(e.data == {"node_id": "sim1"}
                       for e in await rec.events(None, t1, event_type="node_offline"))

        await wait_for(node_offline, 10)
        await wait_for(lambda: not reg.get("switch.sim1_lamp").available, 10)
        await flushed(rec)
        lamp = await rec.history("switch.sim1_lamp", t1, initial=True)
        assert lamp[-1].state == "unavailable"
        # back online with an unchanged retained state: that state is recorded again
        async with running_node(cfg, "sim1", pw["sim1"]):
            await wait_for(lambda: ready(reg, "switch.sim1_lamp", "off"), 10)
            await flushed(rec)
            lamp = await rec.history("switch.sim1_lamp", t1, initial=True)
            assert [p.state for p in lamp[-2:]] == ["unavailable", "off"]
        meta = await rec.entity("event.sim1_doorbell")
        assert meta is not None and meta.platform == "event" and meta.device_class == "doorbell"


# ---- the store on its own bus --------------------------------------------------------------------
async def test_bucketing_numeric_and_non_numeric(bus_recorder):
    bus, rec, task = await bus_recorder()
    hour = 3600.0
    base = math.floor(time.time() / hour) * hour - 2 * hour  # two whole hours ago
    for k in range(24):  # one value every 5 minutes over two hours
        bus.emit(StateChanged(base + k * 300, "sensor.load", None, str(k), {"k": k}))
        bus.emit(StateChanged(base + k * 300, "select.mode", None, ["eco", "comfort"][k % 2]))
    bus.emit(StateChanged(base + hour + 150, "sensor.load", None, "unavailable"))
    await flushed(rec)
    start = datetime.fromtimestamp(base, UTC)
    load = await rec.history("sensor.load", start, start + timedelta(hours=2),
                             bucket=timedelta(hours=1))
    assert load == [
        BucketPoint(base, base + hour, 12, "11", 5.5, 0.0, 11.0, 12),
        BucketPoint(base + hour, base + 2 * hour, 13, "23", 17.5, 12.0, 23.0, 12),
    ]
    shifted = await rec.history("sensor.load", base, base + 2 * hour, bucket=timedelta(hours=1),
                                origin=base + 1800)  # buckets on the half hour
    assert [(p.start - base, p.count, p.numeric_count, p.avg) for p in shifted] == [
        (-1800.0, 6, 6, 2.5), (1800.0, 13, 12, 11.5), (5400.0, 6, 6, 20.5)]
    mode = await rec.history("select.mode", base, base + 2 * hour, bucket=timedelta(minutes=30))
    assert [(p.start - base, p.count, p.state, p.avg) for p in mode] == [
        (i * 1800.0, 6, "comfort", None) for i in range(4)]
    raw = await rec.history("sensor.load", base + 600, base + 1200)
    assert [(p.time - base, p.state, p.attributes) for p in raw] == [
        (600.0, "2", {"k": 2}), (900.0, "3", {"k": 3})]
    assert (await rec.entity("sensor.load")).platform == "sensor"
    await stopped(rec, task)


async def test_excluded_entities_are_not_recorded(bus_recorder):
    bus, rec, task = await bus_recorder(exclude=["sensor.hub_*", "event.noisy"])
    now = time.time()
    bus.emit(StateChanged(now, "sensor.hub_messages", None, "1"))
    bus.emit(StateChanged(now, "sensor.kept", None, "1"))
    bus.emit(EntityFired(now, "event.noisy", "press", {}))
    await flushed(rec)
    assert rec.store.counts() == {"states": 1, "events": 0, "entities": 1}
    assert await rec.entity("sensor.hub_messages") is None
    await stopped(rec, task)


async def test_a_refused_row_is_dropped_alone(bus_recorder):
    """The store refuses one row (here a constraint the test adds): the batch is written row
    by row, only that row is dropped (counted and logged), the others keep their order."""
    bus, rec, task = await bus_recorder()
    with rec.store._connect(write=True) as conn:
        if rec.store.backend == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON states WHEN "
                                 "NEW.state = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        else:
            conn.exec_driver_sql("ALTER TABLE states ADD CONSTRAINT refuse CHECK "
                                 "(state <> 'bad')")
    now = time.time()
    for i in range(10):
        bus.emit(StateChanged(now + i, "sensor.t", None, "bad" if i == 4 else str(i)))
    await flushed(rec)
    assert [p.state for p in await rec.history("sensor.t", now, now + 20)] == [
        "0", "1", "2", "3", "5", "6", "7", "8", "9"]
    assert rec.stats.lost == 1 and rec.stats.states_written == 9
    assert rec.state is LinkState.UP
    bus.emit(StateChanged(now + 10, "sensor.t", None, "10"))  # and it goes on as before
    await flushed(rec)
    assert len(await rec.history("sensor.t", now, now + 20)) == 10
    await stopped(rec, task)


async def test_queries_use_the_indexes(bus_recorder):
    bus, rec, task = await bus_recorder(max_batch=5000)
    now = time.time()
    for i in range(20_000):
        bus.emit(StateChanged(now - i, f"sensor.s{i % 50}", None, str(i)))
    await flushed(rec, 30)
    store = rec.store
    if store.backend == "postgresql":
        with store._connect(write=True) as conn:
            conn.exec_driver_sql("ANALYZE")
    raw = store.explain(q.raw_states("sensor.s1", now - 3600, now))
    bucketed = store.explain(q.buckets(store.backend, "sensor.s1", now - 3600, now, 60.0))
    for plan in (raw, bucketed):
        assert "ix_states_entity_time" in plan, plan
    await stopped(rec, task)


async def test_purge_on_demand_and_periodic(bus_recorder):
    bus, rec, task = await bus_recorder(keep_days=10, purge_interval=0.1)
    now = time.time()
    old, recent = now - 20 * 86400, now - 3600
    for i in range(30):
        bus.emit(StateChanged(old + i, "sensor.t", None, str(i)))
        bus.emit(StateChanged(recent + i, "sensor.t", None, str(100 + i)))
    bus.emit(EntityFired(old, "event.door", "press", {}))
    bus.emit(EntityFired(recent, "event.door", "press", {}))
    await flushed(rec)
    result = await rec.purge(now=now)
    assert (result.states, result.events) == (30, 1)
    assert await rec.history("sensor.t", old - 1, old + 100) == []
    assert len(await rec.history("sensor.t", now - 7200)) == 30
    assert len(await rec.events("event.door", 0)) == 1
    assert (await rec.purge(keep_days=1 / 24, now=now + 60)).states == 30  # shorter on demand

    purged = rec.stats.purged_states
    for i in range(10):
        bus.emit(StateChanged(old + i, "sensor.t", None, str(i)))
    await flushed(rec)
    await wait_for(lambda: rec.stats.purged_states >= purged + 10, 10, what="periodic purge")
    assert rec.store.counts()["states"] == 0
    await stopped(rec, task)


# ---- outages -------------------------------------------------------------------------------------
async def test_sqlite_locked_store_outage_catches_up(broker, tmp_path):
    """Another process holds SQLite's write lock (as root, chmod cannot make the file
    unwritable): writes fail after the busy timeout, rows wait in memory, then catch up."""
    db = tmp_path / "history.db"
    cfg = broker.spark_config(nodes=[NODE], recorder={
        "url": f"sqlite:///{db}", "connect_timeout": 0.1, **FAST})
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]):
        reg, rec = hub.registry, hub.recorder
        assert rec is not None
        await wait_for(lambda: ready(reg, "switch.sim1_lamp", "off"), 10)
        await flushed(rec)
        t1 = time.time()
        await hub.services.call("toggle", "switch.sim1_lamp", wait=True)
        await flushed(rec)

        locker = sqlite3.connect(db, timeout=5, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            for _ in range(5):
                await hub.services.call("toggle", "switch.sim1_lamp", wait=True)
            await wait_for(lambda: rec.state is LinkState.BACKOFF, 10)
            assert rec.health() == "degraded" and rec.stats.failures >= 1
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await flushed(rec)
        assert rec.state is LinkState.UP
        points = await rec.history("switch.sim1_lamp", t1)
        assert [p.state for p in points] == ["on", "off", "on", "off", "on", "off"]
        assert rec.stats.dropped == rec.stats.lost == 0


async def test_sqlite_unreachable_at_start_keeps_newest_rows(tmp_path):
    """The store's folder cannot be created (a file is in the way): the recorder buffers, drops
    the oldest rows past ``max_backlog``, and writes the rest once the path is fixed."""
    blocker = tmp_path / "blocked"
    blocker.write_text("not a folder")
    bus = EventBus()
    rec = Recorder(RecorderConfig(url=f"sqlite:///{blocker / 'history.db'}", max_backlog=1000,
                                  **FAST), bus)
    task = asyncio.create_task(rec.run())
    await wait_for(lambda: rec.state is LinkState.BACKOFF, 10)
    with pytest.raises(RecorderError, match="cannot open"):
        await rec.history("sensor.t", 0)
    now = time.time()
    for i in range(1200):
        bus.emit(StateChanged(now - 1200 + i, "sensor.t", None, str(i)))
    await wait_for(lambda: rec.stats.received == 1200, 5)
    assert rec.backlog == 1000 and rec.stats.dropped == 200 and rec.health() == "unhealthy"

    blocker.unlink()
    await flushed(rec)
    points = await rec.history("sensor.t", 0)
    assert [p.state for p in points] == [str(i) for i in range(200, 1200)]
    assert rec.state is LinkState.UP and rec.stats.lost == 0
    await stopped(rec, task)


async def test_postgres_down_at_start_and_mid_stream_catches_up(broker, fresh_postgres):
    """The URL points at a stopped server, which starts later; then it stops mid-stream and
    comes back. Every toggle ends up recorded once, in order."""
    cluster: PgCluster = fresh_postgres
    url = cluster.create_database()
    cluster.stop()
    cfg = broker.spark_config(nodes=[NODE], recorder={"url": url, "connect_timeout": 2, **FAST})
    pw = broker.passwords
    async with running_hub(cfg, pw["hub"]) as hub, running_node(cfg, "sim1", pw["sim1"]):
        reg, rec = hub.registry, hub.recorder
        assert rec is not None
        await wait_for(lambda: ready(reg, "switch.sim1_lamp", "off"), 10)
        t1 = time.time()
        for _ in range(3):
            await hub.services.call("toggle", "switch.sim1_lamp", wait=True)
        await wait_for(lambda: rec.state is LinkState.BACKOFF, 10)
        await asyncio.to_thread(cluster.start)
        await flushed(rec, 30)
        assert [p.state for p in await rec.history("switch.sim1_lamp", t1)] == [
            "on", "off", "on"]

        await asyncio.to_thread(cluster.stop)
        for _ in range(4):
            await hub.services.call("toggle", "switch.sim1_lamp", wait=True)
        await wait_for(lambda: rec.state is LinkState.BACKOFF, 10)
        assert rec.health() == "degraded"
        await asyncio.to_thread(cluster.start)
        await flushed(rec, 30)
        points = await rec.history("switch.sim1_lamp", t1)
        assert [p.state for p in points] == ["on", "off", "on", "off", "on", "off", "on"]
        assert rec.stats.dropped == rec.stats.lost == 0


# ---- config --------------------------------------------------------------------------------------
def test_config_rejects_unknown_store_and_recorder_can_be_disabled(broker):
    with pytest.raises(ValidationError, match="use sqlite:///"):
        RecorderConfig(url="mysql://localhost/history")
    with pytest.raises(ValidationError, match="retry_max"):
        RecorderConfig(retry_min=5, retry_max=1)
    from spark.app.runtime import build_hub

    assert build_hub(broker.spark_config(recorder={"enabled": False})).recorder is None
