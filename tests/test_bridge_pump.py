"""The pump's backoff: it delays the expensive work (opening the sink), not the detection of a
link that is back (``Sink.probe``). Real outbox, the SQLite sink of tests/test_bridge_sqlsink.py.

The SQLite-sink tests' backoffs are a minute long so that only the probe can explain a retry
within their deadlines; the last test is the real thing at the default settings: PostgreSQL
stopped until the backoff is at its 30 s maximum, then started.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from helpers import wait_for
from pg_fixture import PgCluster, free_port
from test_bridge_sqlsink import Outage, SqliteSink, sink_rows
from test_timescale_sink import count as count_rows
from test_timescale_sink import metrics

from spark.app.config.models import SparkConfig
from spark.bridges.outbox.config import OutboxConfig
from spark.bridges.outbox.store import Outbox
from spark.bridges.pump import Pump
from spark.bridges.runtime import make_pump, sink_factories
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.kafka.sink import KafkaSink
from spark.bridges.sinks.kafka.tansu import TansuProcess
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.bridges.sinks.timescale.sink import TimescaleSink
from spark.core.link import LinkState
from spark.core.messages.records import MetricRecord

OUTAGE = 60.0  # seconds PostgreSQL stays down in the recovery test (issue 13's outage)


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Outbox]:
    with Outbox(OutboxConfig(path=tmp_path / "outbox"), ["s"]).open() as outbox:
        outbox.append([MetricRecord(key=f"m{i}", device_id="d", time=datetime.now(UTC),
                                    metric_name="x", value=i) for i in range(5)])
        yield outbox


async def running(pump: Pump) -> asyncio.Task[None]:
    return asyncio.create_task(pump.run(), name="test-pump")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_link_seen_down_then_up_ends_the_backoff(box: Outbox, tmp_path: Path) -> None:
    outage = Outage(down=True)
    db = tmp_path / "s.db"
    pump = Pump("s", lambda: SqliteSink(db, outage), box, backoff_min=60, backoff_max=60,
                probe=0.02)
    task = await running(pump)
    try:
        await wait_for(lambda: outage.probes >= 3 and pump.state is LinkState.BACKOFF, 30,
                       what="probes while down")
        assert outage.opens == 1
        outage.down = False
        await wait_for(lambda: len(sink_rows(db)) == 5, 30, what="delivered within the minute")
        assert outage.opens == 2
        assert pump.retry_delay == 0
    finally:
        await stop(task)


async def test_a_sink_failing_on_a_live_link_waits_out_its_backoff(
        box: Outbox, tmp_path: Path) -> None:
    """Probes keep finding the link up while open fails: no retry before the backoff ends (a
    live server that refuses the work is not hammered)."""
    outage = Outage(refusing=True)
    pump = Pump("s", lambda: SqliteSink(tmp_path / "s.db", outage), box, backoff_min=60,
                backoff_max=60, probe=0.02)
    task = await running(pump)
    try:
        await wait_for(lambda: outage.probes >= 50, 30, what="probes while refusing")
        assert outage.opens == 1 and pump.state is LinkState.BACKOFF
    finally:
        await stop(task)


async def test_probes_of_the_real_sinks(kafka: TansuProcess, pg_url: str) -> None:
    """A bare connect: True while the server answers, False once it does not."""
    port = free_port()
    assert await KafkaSink(KafkaSinkConfig(bootstrap_servers=kafka.bootstrap)).probe() is True
    assert await KafkaSink(KafkaSinkConfig(
        bootstrap_servers=f"127.0.0.1:{port},{kafka.bootstrap}")).probe() is True
    assert await KafkaSink(KafkaSinkConfig(bootstrap_servers=f"127.0.0.1:{port}")).probe() \
        is False
    assert await TimescaleSink(TimescaleSinkConfig(url=pg_url)).probe() is True
    assert await TimescaleSink(TimescaleSinkConfig(
        url=f"postgresql://postgres@127.0.0.1:{port}/x")).probe() is False


async def test_pump_writes_within_seconds_of_the_database_coming_back(
        fresh_postgres: PgCluster, tmp_path: Path) -> None:
    """Default settings (backoff up to 30 s, probe every 1 s): PostgreSQL stays down for 60 s
    (the pump's backoff at its maximum well before), then starts; the first row is written
    within 5 s of the server accepting connections again (the pump probes the link, it does not
    wait out its backoff)."""
    url = await asyncio.to_thread(fresh_postgres.create_database)
    spark = SparkConfig.model_validate({"bridges": {
        "outbox": {"path": str(tmp_path / "outbox")},
        "sinks": [{"type": "timescale", "url": url, "maintenance_seconds": 0}]}})
    assert spark.bridges.backoff_max >= 30 and spark.bridges.probe_seconds <= 1
    with Outbox(spark.bridges.outbox, ["timescale"]).open() as box:
        settings = spark.bridge_settings()
        pump = make_pump(settings, "timescale", sink_factories(settings)["timescale"], box)
        task = asyncio.create_task(pump.run())
        try:
            box.append(metrics(10))
            pump.wake.set()
            await wait_for(lambda: pump.delivered == 10, 30, what="first batch")
            await asyncio.to_thread(fresh_postgres.stop)
            stopped = time.monotonic()
            box.append(metrics(10, start=10))
            pump.wake.set()
            await wait_for(lambda: pump.retry_delay >= spark.bridges.backoff_max
                           and time.monotonic() - stopped >= OUTAGE, OUTAGE + 60, 0.1,
                           what=f"the backoff at its maximum and {OUTAGE} s of outage")
            await asyncio.to_thread(fresh_postgres.start)  # returns once it takes connections
            back = time.monotonic()
            await wait_for(lambda: rows_beyond(url, 10), 30, 0.05,
                           what="the first row after the outage")
            took = time.monotonic() - back
            print(f"outage {back - stopped:.1f} s; first row {took:.2f} s after PostgreSQL "
                  "was back")
            assert took <= 5, f"first row {took:.1f} s after PostgreSQL was back"
            await wait_for(lambda: pump.delivered == 20, 30, what="the rest")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def rows_beyond(url: str, n: int) -> bool:
    def more() -> bool:
        try:
            return count_rows(url, "device_metrics") > n
        except psycopg.OperationalError:
            return False

    return await asyncio.to_thread(more)
