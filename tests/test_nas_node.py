"""NAS node: SMART parsing over captured smartctl JSON, backups, backends, and the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import Recorder, wait_for
from lab import running_agent

import hub.config.models  # noqa: F401 - first: the hub.config <-> nodes.kinds import cycle
from hub.config.models import SparkConfig
from nodes.base.agent import NodeContext
from nodes.nas import entities as ent
from nodes.nas.agent import NasNode
from nodes.nas.backend import NasBackendError, make_backend
from nodes.nas.backup import (
    BackupError,
    list_snapshots,
    load_manifest,
    run_backup,
    verify_snapshot,
)
from nodes.nas.checks import tcp_reachable
from nodes.nas.config import NasNodeConfig
from nodes.nas.local import LocalBackendConfig, LocalNasBackend
from nodes.nas.simulated import SimulatedBackendConfig, SimulatedNasBackend
from nodes.nas.smart import SmartError, assess, parse_smartctl
from nodes.telemetry import TelemetryMessage

FIX = Path(__file__).parent / "fixtures" / "nas"


def smart_fixture(name: str) -> bytes:
    return (FIX / f"smartctl_{name}.json").read_bytes()


# ---- SMART parsing -----------------------------------------------------------------------
def test_smart_healthy_sata() -> None:
    report = parse_smartctl(smart_fixture("sata_healthy"))
    assert report.device == "/dev/sda" and report.protocol == "ATA"
    assert report.model == "ST4000VN008-2DR166" and report.serial == "ZGY5K3ML"
    assert report.passed is True and report.temperature == 34
    assert report.power_on_hours == 25913
    assert (report.reallocated, report.pending, report.offline_uncorrectable) == (0, 0, 0)
    assert report.failing_attributes == ()
    assert assess(report) == []


def test_smart_failing_sata() -> None:
    report = parse_smartctl(smart_fixture("sata_failing"), "/dev/sdb")
    assert report.passed is False and report.exit_status == 216
    assert report.reallocated == 1184 and report.pending == 56
    assert report.offline_uncorrectable == 41
    assert report.failing_attributes == ("Reallocated_Sector_Ct",)
    reasons = assess(report)
    assert "SMART overall-health self-assessment FAILED" in reasons
    assert "1184 reallocated sectors" in reasons and "56 pending sectors" in reasons


def test_smart_nvme() -> None:
    report = parse_smartctl(smart_fixture("nvme"))
    assert report.protocol == "NVMe" and report.passed is True
    assert report.temperature == 41 and report.power_on_hours == 9184
    assert report.reallocated is None and report.media_errors == 0
    assert report.critical_warning == 0 and report.percentage_used == 3
    assert assess(report) == []


def test_smart_nvme_problems() -> None:
    data = orjson.loads(smart_fixture("nvme"))
    log = data["nvme_smart_health_information_log"]
    log.update(critical_warning=4, media_errors=3, available_spare=5)
    reasons = assess(parse_smartctl(data))
    assert reasons == ["NVMe critical warning 0x04", "3 NVMe media errors",
                       "NVMe spare 5% below threshold 10%"]


def test_smart_standby_is_not_a_failure() -> None:
    report = parse_smartctl(smart_fixture("sata_standby"))
    assert report.standby and report.passed is None


def test_smart_reallocated_growth_and_limit() -> None:
    data = orjson.loads(smart_fixture("sata_healthy"))
    table = data["ata_smart_attributes"]["table"]
    realloc = next(a for a in table if a["id"] == 5)
    realloc["raw"]["value"] = 8
    before = parse_smartctl(data)
    assert assess(before, reallocated_limit=10) == []
    assert assess(before) == ["8 reallocated sectors"]
    realloc["raw"]["value"] = 24
    after = parse_smartctl(data)
    assert assess(after, before, reallocated_limit=100) == ["reallocated sectors grew from 8 to 24"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"{}", b'{"smartctl": {"exit_status": 2, '
                                 b'"messages": [{"string": "Smartctl open device: /dev/sdz '
                                 b'failed: No such device"}]}}'])
def test_smart_unusable_output(raw: bytes) -> None:
    with pytest.raises(SmartError):
        parse_smartctl(raw, "/dev/sdz")


# ---- backends ----------------------------------------------------------------------------
def test_backend_registry() -> None:
    assert isinstance(make_backend(SimulatedBackendConfig()), SimulatedNasBackend)
    assert isinstance(make_backend(LocalBackendConfig()), LocalNasBackend)
    with pytest.raises(NasBackendError, match="unknown NAS backend type 'zfs'"):
        make_backend(type("Cfg", (), {"type": "zfs"})())


def test_config_rejects_unknown_backend_and_bad_backup(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'local', 'simulated'|does not match"):
        NasNodeConfig(id="nas", backend={"type": "zfs"})
    with pytest.raises(ValueError, match="extra"):
        NasNodeConfig(id="nas", backend={"type": "simulated", "colour": "red"})
    with pytest.raises(ValueError, match="inside source"):
        NasNodeConfig(id="nas", backup={"sources": [tmp_path], "target": tmp_path / "b"})
    with pytest.raises(ValueError, match=r"needs backup\.target"):
        NasNodeConfig(id="nas", backup={"sources": [tmp_path]})


def copy_smart_samples(tmp_path: Path, mapping: dict[str, str]) -> list[str]:
    """Lay captured samples out as <tmp>/smart/<disk>.json for a `cat`-based smartctl."""
    folder = tmp_path / "smart"
    folder.mkdir(exist_ok=True)
    for disk, sample in mapping.items():
        shutil.copy(FIX / f"smartctl_{sample}.json", folder / f"{disk}.json")
    return ["cat", f"{folder}/{{name}}.json"]


async def test_local_backend_over_captured_outputs(tmp_path: Path) -> None:
    argv = copy_smart_samples(tmp_path, {"sda": "sata_healthy", "sdb": "sata_failing",
                                         "nvme0": "nvme", "sdc": "sata_standby"})
    backend = LocalNasBackend(LocalBackendConfig(smartctl=argv,
                                                 proc_mounts=FIX / "proc_mounts.txt"))
    assert backend.smart_available
    assert (await backend.smart("/dev/sda")).passed is True
    failing = await backend.smart("/dev/sdb")
    assert failing.device == "/dev/sdb" and assess(failing)
    assert (await backend.smart("/dev/nvme0")).protocol == "NVMe"
    assert (await backend.smart("/dev/sdc")).standby
    with pytest.raises(SmartError):
        await backend.smart("/dev/sdx")  # cat fails: no such file, prints nothing
    # Mount points from the captured table; statvfs runs on this machine's real paths.
    nas, scratch, absent = await backend.mounts(["/srv/nas", "/srv/scratch", "/srv/none"])
    assert nas.mounted and nas.device == "/dev/md0" and nas.read_only is False
    assert scratch.mounted and scratch.read_only is True
    assert not absent.mounted and absent.used_percent is None


async def test_local_backend_without_smartctl() -> None:
    backend = LocalNasBackend(LocalBackendConfig(smartctl=["no-such-smartctl-binary"]))
    assert not backend.smart_available
    with pytest.raises(SmartError, match="not installed"):
        await backend.smart("/dev/sda")


async def test_local_backend_real_statvfs(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/vdz {tmp_path} ext4 rw,relatime 0 0\n")
    backend = LocalNasBackend(LocalBackendConfig(proc_mounts=mounts))
    (status,) = await backend.mounts([str(tmp_path)])
    st = os.statvfs(tmp_path)
    assert status.total == st.f_blocks * st.f_frsize
    assert status.used_percent is not None and 0 <= status.used_percent <= 100


async def test_simulated_backend_failing_disk_grows() -> None:
    sim = SimulatedNasBackend(SimulatedBackendConfig(seed=3))
    healthy = await sim.smart("/dev/sda")
    assert healthy.passed is True and assess(healthy) == []
    assert 25 < (healthy.temperature or 0) < 45 and (healthy.power_on_hours or 0) > 1000
    sim.set_failing("/dev/sdd", True)
    first = await sim.smart("/dev/sdd")
    second = await sim.smart("/dev/sdd")
    assert first.passed is False and (second.reallocated or 0) > (first.reallocated or 0)
    assert "reallocated sectors grew" in " ".join(assess(second, first))
    sim.set_failing("/dev/sdd", False)
    assert assess(await sim.smart("/dev/sdd")) == []
    (mount,) = await sim.mounts(["/srv/nas"])
    assert mount.mounted and 40 < (mount.used_percent or 0) < 50
    sim.set_mounted("/srv/nas", False)
    assert not (await sim.mounts(["/srv/nas"]))[0].mounted


async def test_tcp_reachable() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert await tcp_reachable("127.0.0.1", port, 2.0)
    assert not await tcp_reachable("127.0.0.1", port, 2.0)  # closed now


# ---- backups -----------------------------------------------------------------------------
def make_sources(root: Path) -> list[Path]:
    hub = root / "hub-data"
    (hub / "db").mkdir(parents=True)
    (hub / "db" / "registry.sqlite").write_bytes(os.urandom(300_000))
    (hub / "config.yaml").write_text("hub:\n  id: hub\n")
    (hub / "empty.log").write_bytes(b"")
    (hub / "current").symlink_to("db/registry.sqlite")
    single = root / "secrets.env"
    single.write_text("TOKEN=abc\n")
    return [hub, single]


@pytest.mark.parametrize("method", ["python", "rsync"])
def test_backup_makes_a_verifiable_copy(tmp_path: Path, method: str) -> None:
    if method == "rsync" and shutil.which("rsync") is None:
        pytest.skip("rsync not installed")
    sources = make_sources(tmp_path / "src")
    target = tmp_path / "nas" / "backups"
    result = run_backup(sources, target, keep=3, method=method,
                        now=datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC))
    assert result.snapshot == target / "20250601T120000Z" and result.method == method
    assert result.files == 5 and result.bytes == 300_000 + 15 + 10
    snap = result.snapshot
    assert (snap / "hub-data" / "db" / "registry.sqlite").read_bytes() == \
        (sources[0] / "db" / "registry.sqlite").read_bytes()
    assert (snap / "hub-data" / "current").is_symlink()
    assert (snap / "secrets.env").read_text() == "TOKEN=abc\n"
    manifest = load_manifest(snap)
    assert [e.path for e in manifest.files] == [
        "hub-data/config.yaml", "hub-data/current", "hub-data/db/registry.sqlite",
        "hub-data/empty.log", "secrets.env"]
    assert manifest.sources == {"hub-data": str(sources[0]), "secrets.env": str(sources[1])}
    check = verify_snapshot(snap)
    assert check.ok and check.checked == 5
    assert not list(target.glob(".tmp-*"))


def test_verify_detects_tampering(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    snap = run_backup(sources, tmp_path / "backups", keep=2).snapshot
    db = snap / "hub-data" / "db" / "registry.sqlite"
    data = bytearray(db.read_bytes())
    data[1000] ^= 0xFF  # same size, one flipped byte
    db.write_bytes(bytes(data))
    (snap / "hub-data" / "config.yaml").unlink()
    (snap / "hub-data" / "planted.sh").write_text("echo hi\n")
    check = verify_snapshot(snap)
    assert not check.ok
    assert check.mismatched == ["hub-data/db/registry.sqlite"]
    assert check.missing == ["hub-data/config.yaml"]
    assert check.extra == ["hub-data/planted.sh"]
    assert check.summary() == "1 missing, 1 changed, 1 unexpected of 5 files"


def test_backup_retention_and_crash_leftovers(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    target = tmp_path / "backups"
    target.mkdir()
    (target / ".tmp-20250101T000000Z-99").mkdir()  # a crashed run
    (target / "20240101T000000Z").mkdir()  # no manifest: not a snapshot, left alone
    names = []
    for day in range(1, 6):
        result = run_backup(sources, target, keep=3,
                            now=datetime(2025, 6, day, 3, 0, tzinfo=UTC))
        names.append(result.snapshot.name)
    assert [p.name for p in list_snapshots(target)] == names[-3:]
    assert result.pruned == [names[1]]
    assert not (target / ".tmp-20250101T000000Z-99").exists()
    assert (target / "20240101T000000Z").exists()
    same_second = run_backup(sources, target, keep=10,
                             now=datetime(2025, 6, 5, 3, 0, tzinfo=UTC))
    assert same_second.snapshot.name == "20250605T030000Z-2"


def test_backup_missing_source_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        run_backup([tmp_path / "nope"], tmp_path / "backups", keep=1)
    assert list_snapshots(tmp_path / "backups") == []



# ---- the node on the real broker ---------------------------------------------------------
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
    agent = NasNode(NodeContext(cfg, cfg.node("nas"), password=password,
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
    overrides["backup"]["interval_hours"] = 0.0005  # 1.8 s
    sources = [Path(s) for s in overrides["backup"]["sources"]]
    old = run_backup(sources, tmp_path / "nas", keep=2,
                     now=datetime(2020, 1, 1, tzinfo=UTC)).snapshot
    cfg = nas_config(broker, tmp_path, **overrides)
    with observer(broker) as rec:
        async with running(cfg, broker.passwords["nas"]) as agent:
            assert agent.last_backup == datetime(2020, 1, 1, tzinfo=UTC)  # found on the NAS
            await wait_for(lambda: rec.received("spark/nas/backup_result/state"), 15,
                           what="scheduled backup")  # overdue: runs at once
            body = orjson.loads(rec.received("spark/nas/backup_result/state")[0].payload)
            assert body["event_type"] == "success" and body["trigger"] == "schedule"
            await wait_for(lambda: len(rec.received("spark/nas/backup_result/state")) >= 2, 15,
                           what="next scheduled backup")
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
