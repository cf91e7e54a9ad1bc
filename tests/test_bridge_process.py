"""``spark bridge run`` as deployed: the ingest in the bridge process, the sink pumps in its
supervised child (bridges/pumpproc.py). A pump child killed with SIGKILL is restarted and
nothing is lost or doubled; a bridge killed with SIGKILL takes its pump child with it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import psutil
import pytest
from broker_fixture import HUB, RunningBroker
from helpers import wait_for
from test_bridge import publish_many
from test_bridge_cloud import pg, pg_has, telemetry

pytestmark = pytest.mark.slow
OURS = "device_id LIKE 'cloud%'"  # (the bridge's own status node sends telemetry too)


def _children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The bridge's pump process (not multiprocessing's resource tracker)."""
    try:
        return [c for c in psutil.Process(proc.pid).children()
                if c.status() != psutil.STATUS_ZOMBIE
                and not any("resource_tracker" in part for part in c.cmdline())]
    except psutil.NoSuchProcess:
        return []


async def test_pump_child_restarts_and_dies_with_the_bridge(broker: RunningBroker, pg_url: str,
                                                            tmp_path: Path) -> None:
    conf = tmp_path / "spark.json"
    conf.write_text(orjson.dumps({
        "mqtt": {"host": broker.host, "port": broker.port, "username": HUB,
                 "password": broker.passwords[HUB]},
        "hub": {"id": HUB},
        "bridges": {"outbox": {"path": str(tmp_path / "outbox")}, "backoff_max": 0.5,
                    "ingest": {"client_id": f"test-bridge-{uuid.uuid4().hex[:8]}"},
                    "sinks": [{"type": "timescale", "url": pg_url, "maintenance_seconds": 0}]},
    }).decode())
    command = [sys.executable, "-m", "spark.app.cli", "bridge", "run", "--config", str(conf)]
    log = (tmp_path / "bridge.log").open("wb")
    bridge = subprocess.Popen(  # noqa: ASYNC220 (started once, then waited on with deadlines)
        command, stdout=log, stderr=subprocess.STDOUT)
    try:
        await wait_for(lambda: "running (ingest on" in (tmp_path / "bridge.log").read_text(),
                       30, what="the bridge subscribed")
        await wait_for(lambda: len(_children(bridge)) == 1, 30, what="the pump process")
        first = _children(bridge)[0].pid
        await asyncio.to_thread(publish_many, broker, telemetry(300))
        await wait_for(lambda: pg_has(pg_url, "device_metrics", 600, OURS), 30,
                       what="first part in PostgreSQL")

        psutil.Process(first).kill()  # a sink library crash, say
        await wait_for(lambda: [c.pid for c in _children(bridge)] not in ([], [first]), 30,
                       what="a new pump process")
        await asyncio.to_thread(publish_many, broker, telemetry(500, 300))
        await wait_for(lambda: pg_has(pg_url, "device_metrics", 1000, OURS), 30,
                       what="second part in PostgreSQL")
        assert pg(pg_url, f"SELECT count(DISTINCT record_key) FROM device_metrics WHERE {OURS}"
                  ) == [(1000,)]

        child = _children(bridge)[0]
        bridge.kill()
        bridge.wait(10)
        await wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE,
                       15, what="the pump process ends with its bridge")
    finally:
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait(10)
        log.close()
        print((tmp_path / "bridge.log").read_text()[-3000:])  # shown when the test fails
