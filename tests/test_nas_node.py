"""The NAS node on the real broker: disks, mounts, exports and backups as entities."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from helpers import Recorder, wait_for
from lab import running_agent
from nas_samples import copy_smart_samples, make_sources

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeContext
from spark.core.messages.telemetry import TelemetryMessage
from spark.nodes.nas import entities as ent
from spark.nodes.nas.agent import NasNode
from spark.nodes.nas.backup import list_snapshots, run_backup, verify_snapshot
from spark.nodes.nas.simulated import SimulatedNasBackend


def nas_config(broker: Any, tmp_path: Path, **overrides: Any) -> SparkConfig:
    node = {"id": "nas", "kind": "nas", "state_interval": 0.2, "smart_interval": 0.3,
            "disks": ["/dev/sda", "/dev/sdb", "/dev/nvme0", "/dev/sdc"],
            "mounts": [str(tmp_path / "pool"), str(tmp_path / "scratch"), "/srv/absent"],
            **overrides}
    return broker.spark_config(nodes=[node])


def local_backend(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "pool").mkdir(exist_ok=True)
    (tmp_path / "scratch").mkdir(exist_ok=True)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/md0 {tmp_path / 'pool'} ext4 rw,noatime 0 0\n"
                      f"/dev/sdd1 {tmp_path / 'scratch'} ext4 ro,relatime,errors=remount-ro 0 0\n")
    argv = copy_smart_samples(tmp_path, {"sda": "sata_healthy", "sdb": "sata_failing",
                                         "nvme0": "nvme", "sdc": "sata_standby"})
    return {"type": "local", "smartctl": argv, "proc_mounts": str(mounts)}


@contextlib.asynccontextmanager
async def running(cfg: SparkConfig, password: str) -> AsyncIterator[NasNode]:
    agent = NasNode(NodeContext(cfg.agent_settings(), cfg.node("nas"), password=password,
                                announce_delay=(0, 0.05)))
    async with running_agent(agent) as started:
        yield started


@contextlib.contextmanager
def observer(broker: Any) -> Iterator[Recorder]:
    rec = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
    assert not rec.connect().is_failure
    rec.subscribe("homeassistant/+/nas/#", "spark/nas/#")
    try:
        yield rec
    finally:
        rec.close()


def last(rec: Recorder, topic: str) -> bytes | None:
    """The latest payload the running node sent live (retained leftovers of earlier tests on
    the shared broker arrive with the retain flag and are ignored)."""
    got = [m for m in rec.received(topic) if not m.retain]
    return got[-1].payload if got else None


async def announced(rec: Recorder, platform: str, key: str) -> None:
    """Wait for a discovery config: the node subscribed to its commands before sending it."""
    await wait_for(lambda: last(rec, f"homeassistant/{platform}/nas/{key}/config"), 5,
                   what=f"discovery of {platform} {key}")


async def discovery(rec: Recorder, platform: str, key: str) -> dict[str, Any]:
    """A discovery config, once it arrived (the node announces its entities one by one)."""
    await announced(rec, platform, key)
    payload = last(rec, f"homeassistant/{platform}/nas/{key}/config")
    assert payload, f"no discovery config for {platform} {key}"
    result: dict[str, Any] = orjson.loads(payload)
    return result


async def test_failing_disk_is_a_problem_on_the_broker(broker: Any, tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    open_port = server.sockets[0].getsockname()[1]
    closed = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    closed_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    cfg = nas_config(broker, tmp_path, backend=local_backend(tmp_path), exports=[
        {"name": "media", "host": "127.0.0.1", "port": open_port},
        {"name": "share", "host": "127.0.0.1", "protocol": "smb", "port": closed_port}])
    state = "spark/nas/{}/state".format
    pool = ent.mount_key(str(tmp_path / "pool"))
    scratch = ent.mount_key(str(tmp_path / "scratch"))
    async with server:
        with observer(broker) as rec:
            async with running(cfg, broker.passwords["nas"]):
                await wait_for(lambda: last(rec, state("disk_sdb")) == b"ON", 10,
                               what="failing disk ON")
                await wait_for(lambda: last(rec, state("disk_sdc")) is not None, 5,
                               what="the last disk read")  # disks are read one by one
                await wait_for(lambda: rec.received("spark/nas/telemetry"), 5, what="telemetry")
                await wait_for(lambda: last(rec, state("export_share")) == b"OFF", 5,
                               what="closed export OFF")
                assert last(rec, state("disk_sda")) == b"OFF"
                assert last(rec, state("disk_nvme0")) == b"OFF"
                assert last(rec, state("disk_sdc")) == b"None"  # asleep since start: unknown
                attrs = orjson.loads(last(rec, "spark/nas/disk_sdb/attributes") or b"{}")
                assert attrs["model"] == "WDC WD40EFRX-68N32N0" and attrs["smart_passed"] is False
                assert "1184 reallocated sectors" in attrs["problems"]
                assert last(rec, state("disk_sdb_reallocated")) == b"1184"
                assert last(rec, state("disk_sda_temperature")) == b"34.0"
                assert last(rec, state("disk_nvme0_power_on_hours")) == b"9184"

                health = await discovery(rec, "binary_sensor", "disk_sdb")
                assert health["device_class"] == "problem" and "entity_category" not in health
                temp = await discovery(rec, "sensor", "disk_sda_temperature")
                assert (temp["device_class"], temp["unit_of_measurement"],
                        temp["state_class"]) == ("temperature", "°C", "measurement")
                hours = await discovery(rec, "sensor", "disk_sda_power_on_hours")
                assert (hours["device_class"], hours["unit_of_measurement"], hours["state_class"],
                        hours["entity_category"]) == ("duration", "h", "total_increasing",
                                                      "diagnostic")
                reallocated = await discovery(rec, "sensor", "disk_sdb_reallocated")
                assert reallocated["entity_category"] == "diagnostic"

                used = await discovery(rec, "sensor", f"{pool}_used")
                assert (used["unit_of_measurement"], used["state_class"]) == ("%", "measurement")
                free = await discovery(rec, "sensor", f"{pool}_free")
                assert (free["device_class"], free["unit_of_measurement"]) == ("data_size", "GB")
                read_only = await discovery(rec, "binary_sensor", f"{scratch}_read_only")
                assert read_only["entity_category"] == "diagnostic"
                assert last(rec, state(f"{pool}_mounted")) == b"ON"
                assert last(rec, state(f"{pool}_read_only")) == b"OFF"
                assert last(rec, state(f"{scratch}_read_only")) == b"ON"
                assert 0 <= float(last(rec, state(f"{pool}_used")) or -1) <= 100
                assert last(rec, state("mount_srv_absent_mounted")) == b"OFF"
                assert last(rec, state("mount_srv_absent_used")) == b"None"

                media = await discovery(rec, "binary_sensor", "export_media")
                assert media["device_class"] == "connectivity" and media["name"] == "NFS media"
                assert last(rec, state("export_media")) == b"ON"

                tele = rec.received("spark/nas/telemetry")[-1]
                metrics = TelemetryMessage.from_payload(tele.payload).by_device()["nas"]
                assert not tele.retain and metrics["export_media"] == 1.0
                assert f"{pool}_used" in metrics and f"{pool}_free" in metrics


async def test_simulated_failure_switch(broker: Any, tmp_path: Path) -> None:
    cfg = nas_config(broker, tmp_path, disks=["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"],
                     mounts=["/srv/nas"], backend={"type": "simulated", "seed": 1})
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["nas"]) as agent:
            await wait_for(lambda: last(rec, "spark/nas/disk_sdd/state") == b"OFF", 10,
                           what="sdd healthy")
            switch = await discovery(rec, "switch", "simulate_disk_failure")
            assert switch["entity_category"] == "config"
            rec.publish("spark/nas/simulate_disk_failure/set", "ON")
            await wait_for(lambda: last(rec, "spark/nas/disk_sdd/state") == b"ON", 10,
                           what="sdd problem ON")
            assert last(rec, "spark/nas/simulate_disk_failure/state") == b"ON"
            assert agent.problems["/dev/sdd"] and not agent.problems["/dev/sda"]
            assert last(rec, "spark/nas/mount_srv_nas_mounted/state") == b"ON"
            rec.publish("spark/nas/simulate_disk_failure/set", "OFF")
            await wait_for(lambda: last(rec, "spark/nas/disk_sdd/state") == b"OFF", 10,
                           what="sdd replaced")


def backup_overrides(tmp_path: Path) -> dict[str, Any]:
    sources = make_sources(tmp_path / "src")
    return {"disks": [], "mounts": [], "backend": {"type": "simulated"},
            "backup": {"sources": [str(s) for s in sources], "target": str(tmp_path / "nas"),
                       "keep": 2, "interval_hours": None}}


async def test_backup_button_writes_a_verifiable_copy(broker: Any, tmp_path: Path) -> None:
    cfg = nas_config(broker, tmp_path, **backup_overrides(tmp_path))
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["nas"]) as agent:
            button = await discovery(rec, "button", "backup")
            assert button["command_topic"] == "spark/nas/backup/set"
            event = await discovery(rec, "event", "backup_result")
            assert event["event_types"] == ["success", "failure"]
            stamp = await discovery(rec, "sensor", "last_backup")
            assert stamp["device_class"] == "timestamp"
            assert last(rec, "spark/nas/last_backup/state") is None  # no snapshot yet

            rec.publish("spark/nas/backup/set", "PRESS")
            await wait_for(lambda: rec.received("spark/nas/backup_result/state"), 15,
                           what="backup result event")
            result = rec.received("spark/nas/backup_result/state")[-1]
            body = orjson.loads(result.payload)
            assert not result.retain
            assert body["event_type"] == "success" and body["trigger"] == "button"
            assert body["files"] == 5 and body["verified"] is True
            await wait_for(lambda: last(rec, "spark/nas/last_backup/state"), 5,
                           what="last backup timestamp")
            when = datetime.fromisoformat((last(rec, "spark/nas/last_backup/state") or b"")
                                          .decode())
            assert abs((datetime.now(UTC) - when).total_seconds()) < 60

            snapshot = tmp_path / "nas" / body["snapshot"]
            assert verify_snapshot(snapshot).ok
            (snapshot / "secrets.env").write_text("TOKEN=evil\n")
            assert verify_snapshot(snapshot).mismatched == ["secrets.env"]

            # A press while a backup runs is refused with an error response.
            async with agent._backup_lock:
                rec.publish("spark/nas/backup/set", "PRESS")
                await wait_for(lambda: rec.received("spark/nas/response/command"), 5,
                               what="rejection")
            reply = orjson.loads(last(rec, "spark/nas/response/command") or b"{}")
            assert reply["status"] == "error" and "already running" in reply["error"]


async def test_backup_failure_event(broker: Any, tmp_path: Path) -> None:
    overrides = backup_overrides(tmp_path)
    cfg = nas_config(broker, tmp_path, **overrides)
    shutil.rmtree(tmp_path / "src" / "hub-data")  # the source vanished after configuration
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["nas"]):
            await announced(rec, "button", "backup")
            rec.publish("spark/nas/backup/set", "PRESS")
            await wait_for(lambda: rec.received("spark/nas/backup_result/state"), 15,
                           what="backup result event")
            body = orjson.loads(rec.received("spark/nas/backup_result/state")[-1].payload)
            assert body["event_type"] == "failure" and "does not exist" in body["error"]
            assert last(rec, "spark/nas/backup_running/state") == b"OFF"
            assert list_snapshots(tmp_path / "nas") == []


async def test_scheduled_backup_counts_from_last_snapshot(broker: Any, tmp_path: Path) -> None:
    overrides = backup_overrides(tmp_path)
    # An hour between backups: only a schedule that counts from the 2020 snapshot found on the
    # NAS is overdue at start (counting from the node's start, nothing would run for an hour).
    overrides["backup"]["interval_hours"] = 1.0
    sources = [Path(s) for s in overrides["backup"]["sources"]]
    old = run_backup(sources, tmp_path / "nas", keep=2,
                     now=datetime(2020, 1, 1, tzinfo=UTC)).snapshot
    cfg = nas_config(broker, tmp_path, **overrides)
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["nas"]):
            def results() -> list[dict[str, Any]]:
                return [orjson.loads(m.payload) for m in rec.received(
                    "spark/nas/backup_result/state") if not m.retain]

            await wait_for(results, 15, what="the overdue scheduled backup")
            assert results()[0]["event_type"] == "success"
            assert results()[0]["trigger"] == "schedule"
            await announced(rec, "button", "backup")
            rec.publish("spark/nas/backup/set", "PRESS")  # a second snapshot: keep=2 prunes 2020
            await wait_for(lambda: len(results()) >= 2, 15, what="the button's backup")
    names = [p.name for p in list_snapshots(tmp_path / "nas")]
    assert len(names) == 2 and old.name not in names  # keep=2 pruned the 2020 one


async def test_backup_refuses_an_unmounted_volume(broker: Any, tmp_path: Path) -> None:
    overrides = backup_overrides(tmp_path)
    overrides["mounts"] = [str(tmp_path / "nas")]  # the backup target's volume
    cfg = nas_config(broker, tmp_path, **overrides)
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["nas"]) as agent:
            assert isinstance(agent.backend, SimulatedNasBackend)
            agent.backend.set_mounted(str(tmp_path / "nas"), False)
            await announced(rec, "button", "backup")
            rec.publish("spark/nas/backup/set", "PRESS")
            await wait_for(lambda: rec.received("spark/nas/backup_result/state"), 15,
                           what="backup result event")
            body = orjson.loads(rec.received("spark/nas/backup_result/state")[-1].payload)
            assert body["event_type"] == "failure" and "is not mounted" in body["error"]
    assert not (tmp_path / "nas").exists()  # nothing written onto the disk underneath


async def test_simulated_disk_counters_never_go_back_across_a_restart(broker: Any,
                                                                     tmp_path: Path) -> None:
    """Restart the simulated NAS node: the same disk, a power-on-hours counter (a
    ``total_increasing`` sensor) at least where it was."""
    cfg = nas_config(broker, tmp_path, disks=["/dev/sda"], mounts=["/srv/nas"],
                     backend={"type": "simulated"})
    hours_topic = "spark/nas/disk_sda_power_on_hours/state"
    attrs_topic = "spark/nas/disk_sda/attributes"
    seen: list[tuple[int, str]] = []
    for _run in range(2):
        with observer(broker) as rec:  # last() skips what the broker kept from the first run
            async with running(cfg, broker.passwords["nas"]):
                await wait_for(lambda r=rec: last(r, hours_topic) and last(r, attrs_topic), 10,
                               what="power-on hours and disk attributes")
                hours = int(last(rec, hours_topic) or b"")
                serial = orjson.loads(last(rec, attrs_topic) or b"{}")["serial"]
                seen.append((hours, serial))
    (hours1, serial1), (hours2, serial2) = seen
    assert serial2 == serial1 and hours2 >= hours1 > 0
