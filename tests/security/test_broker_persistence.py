"""A retained discovery config survives a broker crash that comes soon after it.

Attack (and accident): a third-party device announces itself once with a retained discovery
config; the broker is killed (``kill -9``, a power cut) a second later. Mosquitto saved its
persistence file every ``autosave_interval`` (60) seconds only, so the config was gone after the
restart and the device stayed unknown to the hub and to Home Assistant. Measured on main: lost.
Now the Mosquitto we start is told to save within about a second of a discovery change.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from broker_fixture import ADMIN, HOST, RunningBroker, broker_config, free_port
from helpers import Recorder, wait_for

from spark.hub.broker import choose_broker
from spark.hub.broker.mosquitto import broker_paths
from spark.hub.broker.process import port_open
from spark.hub.broker.saver import DiscoverySaver, run_saver

CONFIG_TOPIC = "homeassistant/sensor/0x00158d0001a2b3c4/temperature/config"
CONFIG = b'{"name": "Temperature", "state_topic": "zigbee2mqtt/kitchen", "uniq_id": "0x0015_t"}'


def _saved(db: Path, marker: bytes) -> bool:
    try:
        return marker in db.read_bytes()
    except FileNotFoundError:
        return False


def _publish(port: int, login: dict[str, str], topic: str, payload: bytes) -> None:
    with Recorder(HOST, port, **login) as rec:
        assert rec.connect() == 0
        rec.publish(topic, payload, retain=True)


def _retained(port: int, login: dict[str, str], topic: str) -> bytes | None:
    """The retained payload on ``topic`` (None when the broker has none: a probe topic, whose
    retained message arrives after any retained one on ``topic``, marks the end)."""
    with Recorder(HOST, port, **login) as rec:
        assert rec.connect() == 0
        rec.publish("probe/end", "1", retain=True)
        rec.subscribe(topic, "probe/end")
        rec.wait_topic("probe/end")
        found = rec.received(topic)
        return found[0].payload if found else None


async def test_a_discovery_config_survives_a_kill_soon_after_it(tmp_path: Path) -> None:
    port = free_port()
    cfg = broker_config(tmp_path / "broker", port).broker_settings()
    paths = broker_paths(cfg.broker)
    handle = await choose_broker(cfg)  # as `spark up` does
    try:
        assert handle.kind == "mosquitto"
        admin = {"username": ADMIN, "password": handle.password_for(ADMIN) or ""}
        await asyncio.to_thread(_publish, port, admin, CONFIG_TOPIC, CONFIG)
        # The crash comes once the file holds the config: well within the 60 s autosave window.
        await wait_for(lambda: _saved(paths["persistence"] / "mosquitto.db", CONFIG), timeout=10,
                       what="the persistence file holds the discovery config")
        os.kill(int(paths["pid"].read_text()), signal.SIGKILL)  # stop() then only reaps it
    finally:
        await handle.stop()
    handle = await choose_broker(cfg)
    try:
        assert await asyncio.to_thread(_retained, port, admin, CONFIG_TOPIC) == CONFIG
    finally:
        await handle.stop()


async def test_a_flood_of_configs_costs_a_bounded_number_of_saves(
    fresh_broker: RunningBroker,
) -> None:
    """A publisher spamming discovery configs must not make the broker save per message."""
    b = fresh_broker
    assert b.process.pid is not None
    saver = DiscoverySaver(b.mqtt_config("hub"), b.process.pid, delay=0.2, spacing=1.0)
    task = asyncio.create_task(run_saver(saver))
    try:
        db = b.data_dir / "mosquitto.db"
        started = time.monotonic()

        def flood() -> None:
            with Recorder(HOST, b.port, **b.login(ADMIN)) as rec:
                assert rec.connect() == 0
                for i in range(300):
                    rec.publish(f"homeassistant/sensor/flood/e{i}/config", f'{{"n": {i}}}',
                                retain=True, qos=1 if i == 299 else 0)

        await asyncio.to_thread(flood)
        await wait_for(lambda: _saved(db, b'{"n": 299}'), timeout=10, what="the last config saved")
        elapsed = time.monotonic() - started
        assert 1 <= saver.saves <= elapsed / saver.spacing + 2, (saver.saves, elapsed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)



def _sigint_ignored() -> None:  # as a parent (a shell's `&`, nohup, a test run) may hand down
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_spark_broker_saves_discovery_too(tmp_path: Path, stop: signal.Signals) -> None:
    """`spark broker` (Mosquitto in the foreground, e.g. as a service) has the same guard, and
    stops on Ctrl-C and on a service manager's SIGTERM, even when it inherited an ignored
    SIGINT (it once hung there: Python installs no KeyboardInterrupt handler then)."""
    port = free_port()
    data_dir = tmp_path / "broker"
    conf = tmp_path / "spark.yaml"
    conf.write_text(yaml.safe_dump({
        "mqtt": {"host": HOST, "port": port},
        "broker": {"data_dir": str(data_dir), "listen_host": HOST,
                   "users": [{"username": ADMIN, "readwrite": ["#"]}]},
    }))
    out = tmp_path / "spark-broker.log"
    with out.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "spark.app.cli", "broker", "-c", str(conf),
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_sigint_ignored,
        )
    try:
        def listening() -> bool:
            assert proc.returncode is None, out.read_text()[-2000:]
            return port_open(HOST, port, 0.2)

        await wait_for(listening, timeout=30, what="spark broker listens")
        password = (data_dir / "secrets" / f"{ADMIN}.password").read_text().strip()
        await asyncio.to_thread(_publish, port, {"username": ADMIN, "password": password},
                                CONFIG_TOPIC, CONFIG)
        await wait_for(lambda: _saved(data_dir / "mosquitto.db", CONFIG), timeout=10,
                       what="the persistence file holds the discovery config")
    finally:
        proc.send_signal(stop)  # it stops Mosquitto, then exits
        async with asyncio.timeout(30):
            await proc.wait()
    assert not port_open(HOST, port, 0.2)
