"""System telemetry node against the real broker, plus its telemetry message and tool runner.

External tools are configured as ``cat <captured sample>``, so the real subprocess path and the
real parsers run; the host source is psutil, with a subclass choosing which mounts exist.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import Recorder, wait_for
from lab import running_agent

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeContext
from spark.core.errors import PayloadError
from spark.core.messages.telemetry import DeviceMetric, TelemetryMessage
from spark.nodes.system.agent import SystemNode
from spark.nodes.system.sources import (
    CommandError,
    CommandRunner,
    HailoTemperature,
    HostSource,
    Partition,
    PsutilHost,
)

SYS = Path(__file__).parent / "fixtures" / "system"
CLOUD = "lMx0EdcX8UV5sqoQD7uzT6WT/q7Scki3YuOrWAXwdlo="
PHONE = "K5wdfg83xEkhvT9lZOrffxQqcmaMR+Ij0W7djEe0avw="


# ---- the telemetry message ---------------------------------------------------------------
def test_telemetry_round_trip() -> None:
    when = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    msg = TelemetryMessage.from_readings(
        "pi5", {"cpu_percent": 3.5, "load_1": 0.12, "vpn": True, "gone": None,
                "nan": float("nan"), "text": "x"}, time=when)
    assert [(r.metric_name, r.value) for r in msg.device_metrics] == [
        ("cpu_percent", 3.5), ("load_1", 0.12), ("vpn", 1.0)]
    body = orjson.loads(msg.to_payload())
    assert body == {"v": 1, "node": "pi5", "time": "2025-06-01T12:00:00.123456+00:00",
                    "metrics": {"pi5": {"cpu_percent": 3.5, "load_1": 0.12, "vpn": 1.0}}}
    back = TelemetryMessage.from_payload(msg.to_payload())
    assert back == msg
    assert back.device_metrics[0] == DeviceMetric(time=when, device_id="pi5",
                                                  metric_name="cpu_percent", value=3.5)


@pytest.mark.parametrize("payload", [
    b"nope", b"[]", b'{"v": 2, "node": "a", "time": "2025-01-01T00:00:00+00:00", "metrics": {}}',
    b'{"v": 1, "node": "a", "time": "yesterday", "metrics": {}}',
    b'{"v": 1, "node": "a", "time": "2025-01-01T00:00:00", "metrics": {}}',  # naive
    b'{"v": 1, "node": "a/b", "time": "2025-01-01T00:00:00+00:00", "metrics": {}}',
    b'{"v": 1, "node": "a", "time": "2025-01-01T00:00:00+00:00", "metrics": {"a": {"x": "1"}}}',
    b'{"v": 1, "node": "a", "time": "2025-01-01T00:00:00+00:00", "metrics": {"a": [1]}}',
])
def test_telemetry_rejects_bad_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        TelemetryMessage.from_payload(payload)


# ---- the command runner ------------------------------------------------------------------
async def test_command_runner() -> None:
    runner = CommandRunner(timeout=0.3)
    assert (await runner.run(["cat", str(SYS / "vcgencmd_throttled_ok.txt")])).stdout == \
        "throttled=0x0\n"
    with pytest.raises(CommandError, match="not installed"):
        await runner.run(["no-such-tool-here"])
    with pytest.raises(CommandError, match="exit 1"):
        await runner.run(["cat", "/nonexistent/file"])
    started = time.monotonic()
    with pytest.raises(CommandError, match="no answer within"):
        await runner.run([sys.executable, "-c", "import time; time.sleep(30)"])
    assert time.monotonic() - started < 5


# ---- the node on the real broker ---------------------------------------------------------
class Mounts(PsutilHost):
    """Real psutil readings; the partition list is chosen by the test."""

    def __init__(self, mounts: list[Path]) -> None:
        self.mounts = mounts

    def partitions(self, everything: bool = False) -> list[Partition]:
        return [Partition(f"/dev/fake{i}", str(m), "ext4") for i, m in enumerate(self.mounts)]


class FixedHailo(HailoTemperature):
    """A Hailo-8 whose sensors read 50.5 and 52.0 degrees (what HailoRT's API returns)."""

    def read(self) -> float:
        return round((50.5 + 52.0) / 2, 2)


def wg_dump(path: Path, now: float, peers: list[tuple[str, float]]) -> None:
    lines = ["wg0\tcHJpdmF0ZQ==\tcHVibGlj\t51820\toff"]
    for key, age in peers:
        shake = int(now - age) if age >= 0 else 0
        lines.append(f"wg0\t{key}\t(none)\t203.0.113.10:51820\t10.8.0.1/32\t{shake}\t100\t200\t25")
    path.write_text("\n".join(lines) + "\n")


def system_config(broker: Any, tmp_path: Path, **overrides: Any) -> SparkConfig:
    node = {
        "id": "system", "kind": "system", "state_interval": 0.2,
        "thermal_root": str(SYS / "thermal_pi5"),
        "commands": {
            "throttled": ["cat", str(SYS / "vcgencmd_throttled_undervoltage.txt")],
            "wireguard": ["cat", str(tmp_path / "wg.txt")],
            "hailo_identify": ["cat", str(SYS / "hailortcli_identify.txt")],
        },
        "vpn_peer_names": {CLOUD: "cloud"},
        **overrides,
    }
    return broker.spark_config(nodes=[node])


@contextlib.asynccontextmanager
async def running(cfg: SparkConfig, password: str, host: HostSource | None = None,
                  hailo_reader: HailoTemperature | None = None) -> AsyncIterator[SystemNode]:
    agent = SystemNode(NodeContext(cfg.agent_settings(), cfg.node("system"), password=password,
                                   announce_delay=(0, 0.05)), host=host, hailo_reader=hailo_reader)
    async with running_agent(agent) as started:
        yield started


@contextlib.contextmanager
def observer(broker: Any) -> Any:
    rec = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
    assert not rec.connect().is_failure
    rec.subscribe("homeassistant/+/system/#", "spark/system/#")
    try:
        yield rec
    finally:
        rec.close()


def last(rec: Recorder, topic: str) -> bytes | None:
    """The latest payload the running node sent live (retained leftovers of earlier tests on
    the shared broker arrive with the retain flag and are ignored)."""
    got = [m for m in rec.received(topic) if not m.retain]
    return got[-1].payload if got else None


async def config_of(rec: Recorder, platform: str, key: str) -> dict[str, Any]:
    """A discovery config, once it arrived (the node announces its entities one by one)."""
    topic = f"homeassistant/{platform}/system/{key}/config"
    await wait_for(lambda: last(rec, topic), 5, what=f"discovery of {platform} {key}")
    payload = last(rec, topic)
    assert payload, f"no discovery config for {platform} {key}"
    result: dict[str, Any] = orjson.loads(payload)
    return result


async def test_system_node_entities_states_and_telemetry(broker: Any, tmp_path: Path) -> None:
    disk = tmp_path / "data"
    disk.mkdir()
    wg_dump(tmp_path / "wg.txt", time.time(), [(CLOUD, 30), (PHONE, 1000)])
    cfg = system_config(broker, tmp_path)
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["system"], host=Mounts([disk]),
                           hailo_reader=FixedHailo()) as agent:
            state = "spark/system/{}/state".format
            await wait_for(lambda: rec.received("spark/system/telemetry"), 10,
                           what="a telemetry message")
            disk_key = next(k for k in agent.entities if k.startswith("disk_"))
            await wait_for(lambda: last(rec, state(disk_key)) is not None, 5, what="disk state")

            cpu = await config_of(rec, "sensor", "cpu_percent")
            assert (cpu["unit_of_measurement"], cpu["state_class"], cpu["entity_category"]) == \
                ("%", "measurement", "diagnostic")
            temp = await config_of(rec, "sensor", "cpu_temperature")
            assert (temp["device_class"], temp["unit_of_measurement"]) == ("temperature", "°C")
            assert last(rec, state("cpu_temperature")) == b"48.3"
            for key in ("net_rx", "net_tx"):
                rate = await config_of(rec, "sensor", key)
                assert (rate["device_class"], rate["unit_of_measurement"]) == \
                    ("data_rate", "kB/s")
            assert (await config_of(rec, "sensor", "load_15"))["state_class"] == "measurement"
            assert (await config_of(rec, "sensor", "boot_time"))["device_class"] == "timestamp"
            boot = datetime.fromisoformat(last(rec, state("boot_time")).decode())
            assert boot.tzinfo is not None and boot < datetime.now(UTC)

            uv = await config_of(rec, "binary_sensor", "throttle_under_voltage")
            assert (uv["device_class"], uv["entity_category"]) == ("problem", "diagnostic")
            assert last(rec, state("throttle_under_voltage")) == b"ON"
            assert last(rec, state("throttle_freq_capped")) == b"OFF"
            assert last(rec, state("throttle_occurred")) == b"ON"

            hailo = await config_of(rec, "sensor", "hailo_temperature")
            assert (hailo["device_class"], hailo["unit_of_measurement"]) == ("temperature", "°C")
            assert last(rec, state("hailo_temperature")) == b"51.25"
            assert last(rec, state("hailo")) == b"OFF"
            attrs = orjson.loads(last(rec, "spark/system/hailo/attributes") or b"{}")
            assert attrs["architecture"] == "HAILO8"
            assert attrs["firmware_version"].startswith("4.20")

            cloud_key = "vpn_wg0_lmx0edcx"
            vpn = await config_of(rec, "binary_sensor", cloud_key)
            assert vpn["device_class"] == "connectivity" and vpn["name"] == "VPN cloud"
            assert "entity_category" not in vpn  # the cloud link is a primary entity
            assert last(rec, state(cloud_key)) == b"ON"
            assert last(rec, state("vpn_wg0_k5wdfg83")) == b"OFF"
            age = await config_of(rec, "sensor", f"{cloud_key}_handshake_age")
            assert (age["device_class"], age["unit_of_measurement"]) == ("duration", "s")
            assert 25 <= float(last(rec, state(f"{cloud_key}_handshake_age")) or 0) < 60

            used = await config_of(rec, "sensor", disk_key)
            assert (used["unit_of_measurement"], used["entity_category"]) == ("%", "diagnostic")
            await wait_for(lambda: last(rec, state("net_rx")) is not None, 5, what="net rate")

            tele = rec.received("spark/system/telemetry")[-1]
            assert not tele.retain
            msg = TelemetryMessage.from_payload(tele.payload)
            metrics = msg.by_device()["system"]
            for name in ("cpu_percent", "load_1", "load_5", "load_15", "memory_percent",
                         "cpu_temperature", "uptime", "throttled_raw", "hailo_temperature",
                         cloud_key, f"{cloud_key}_handshake_age", disk_key):
                assert name in metrics, name
            assert metrics["throttled_raw"] == 0x50005 and metrics[cloud_key] == 1.0
            assert all(r.device_id == "system" for r in msg.device_metrics)


async def test_mounts_and_peers_come_and_go(broker: Any, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    host = Mounts([one, two])
    wg = tmp_path / "wg.txt"
    wg_dump(wg, time.time(), [(CLOUD, 10), (PHONE, 10)])
    cfg = system_config(broker, tmp_path)
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["system"], host=host) as agent:
            await wait_for(lambda: len([k for k in agent.entities if k.startswith("disk_")]) == 2
                           and "vpn_wg0_k5wdfg83" in agent.entities, 10, what="dynamic entities")
            disks = sorted(k for k in agent.entities if k.startswith("disk_"))
            phone_cfg = "homeassistant/binary_sensor/system/vpn_wg0_k5wdfg83/config"
            await wait_for(lambda: last(rec, phone_cfg), 5, what="phone peer config")

            host.mounts = [one]
            wg_dump(wg, time.time(), [(CLOUD, 10)])
            await wait_for(lambda: last(rec, phone_cfg) == b"", 10, what="phone config cleared")
            await wait_for(lambda: sum(k not in agent.entities for k in disks) == 1, 5,
                           what="one disk entity removed")
            (gone,) = [k for k in disks if k not in agent.entities]
            (kept,) = [k for k in disks if k in agent.entities]
            await wait_for(lambda: last(rec, f"homeassistant/sensor/system/{gone}/config") == b"",
                           5, what="disk config cleared")
            kept_attrs = orjson.loads(last(rec, f"spark/system/{kept}/attributes") or b"{}")
            assert kept_attrs["mountpoint"] == str(one)
            await wait_for(lambda: last(rec, "spark/system/vpn_wg0_k5wdfg83_handshake_age/state")
                           == b"", 5, what="handshake age state cleared")
            assert "vpn_wg0_lmx0edcx" in agent.entities and gone not in agent.entities


async def test_missing_tools_make_no_entities(broker: Any, tmp_path: Path) -> None:
    cfg = system_config(broker, tmp_path, thermal_root=str(tmp_path / "no-thermal"),
                        commands={"throttled": ["no-vcgencmd-here"], "wireguard": [],
                                  "hailo_identify": ["no-hailortcli-here"]})
    async with running(cfg, broker.passwords["system"], host=Mounts([])) as agent:
        await wait_for(lambda: agent.collections >= 2, 10, what="two collections")
        assert not [k for k in agent.entities if k.startswith(("throttle", "vpn", "hailo",
                                                                "cpu_temperature", "disk_"))]
        assert agent.state("cpu_percent") is not None and agent.state("load_1") is not None


async def test_hailo_version_mismatch_is_a_problem(broker: Any, tmp_path: Path) -> None:
    cfg = system_config(broker, tmp_path, commands={
        "throttled": [], "wireguard": [],
        "hailo_identify": ["cat", str(SYS / "hailortcli_version_mismatch.txt")]})
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["system"], host=Mounts([]),
                           hailo_reader=FixedHailo()) as agent:
            await wait_for(lambda: last(rec, "spark/system/hailo/state") == b"ON", 10,
                           what="hailo problem ON")
            attrs = orjson.loads(last(rec, "spark/system/hailo/attributes") or b"{}")
            assert "does not match" in attrs["error"]
            assert "hailo_temperature" not in agent.entities
