"""NAS node parts: SMART parsing over captured smartctl JSON, backends, backups."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from nas_samples import FIX, copy_smart_samples, make_sources

from spark.core.link import tcp_reachable
from spark.nodes.nas.backend import NasBackendError, make_backend
from spark.nodes.nas.backup import (
    BackupError,
    list_snapshots,
    load_manifest,
    run_backup,
    verify_snapshot,
)
from spark.nodes.nas.config import NasNodeConfig
from spark.nodes.nas.local import LocalBackendConfig, LocalNasBackend
from spark.nodes.nas.simulated import SimulatedBackendConfig, SimulatedNasBackend
from spark.nodes.nas.smart import SmartError, assess, parse_smartctl


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


async def test_simulated_disks_are_the_same_disks_after_a_restart() -> None:
    """A restarted simulated NAS reports the same serials and power-on hours that never go
    back (``total_increasing``), whatever the seed; the hours follow the wall clock."""
    from spark.nodes.nas.simulated import INSTALLED

    now = INSTALLED + 400 * 3600.0
    before = SimulatedNasBackend(SimulatedBackendConfig(), clock=lambda: now)
    first = {d: await before.smart(d) for d in ("/dev/sda", "/dev/sdb")}
    for seed, later in ((None, now), (7, now + 1800), (None, now + 3 * 3600)):
        after = SimulatedNasBackend(SimulatedBackendConfig(seed=seed), clock=lambda t=later: t)
        for device, report in first.items():
            again = await after.smart(device)
            assert again.serial == report.serial and again.model == report.model
            assert again.power_on_hours == (report.power_on_hours or 0) + int((later - now) // 3600)
    assert first["/dev/sda"].serial != first["/dev/sdb"].serial
    (used_before,) = await before.mounts(["/srv/nas"])
    (used_after,) = await after.mounts(["/srv/nas"])  # three hours on: fuller, not reset
    assert (used_after.used or 0) - (used_before.used or 0) > 3 * 0.5e9 - 50e6
    early = SimulatedNasBackend(SimulatedBackendConfig(), clock=lambda: INSTALLED - 86400)
    assert (await early.smart("/dev/sda")).power_on_hours == \
        (first["/dev/sda"].power_on_hours or 0) - 400  # a clock set back: never below install


def _rsyncs_of(path: Path) -> list[int]:
    """Pids of rsync processes whose command line names ``path``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"rsync") and any(str(path).encode() in a
                                                             for a in argv):
                pids.append(int(entry.name))
    return pids


def test_a_cancelled_backup_ends_rsync(tmp_path: Path) -> None:
    """The node runs a backup in a thread; cancelling its task sets ``cancel``: a running
    rsync is ended within a poll (before: rsync went on writing after the node stopped)."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync not installed")
    import threading
    import time

    src = tmp_path / "big"
    src.mkdir()
    with (src / "sparse.img").open("wb") as fh:  # 32 GB of holes: rsync writes them out
        fh.truncate(32 << 30)
    target = tmp_path / "nas"
    cancel = threading.Event()
    outcome: list[BaseException | object] = []

    def backup() -> None:
        try:
            outcome.append(run_backup([src], target, keep=2, method="rsync", cancel=cancel))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=backup, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not _rsyncs_of(src) and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)  # poll interval of the wait for rsync to start
        assert _rsyncs_of(src), "rsync never started"
        cancel.set()
        worker.join(5.0)
        assert not worker.is_alive(), "the backup went on after it was cancelled"
        assert isinstance(outcome[0], BackupError) and "cancelled" in str(outcome[0])
        assert not _rsyncs_of(src)
    finally:
        cancel.set()
        for pid in _rsyncs_of(src):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        worker.join(10.0)
    # the unfinished snapshot is cleared by the next run
    assert [p.name for p in target.iterdir() if p.name.startswith(".tmp-")]
    (src / "sparse.img").unlink()
    (src / "small").write_text("x")
    result = run_backup([src], target, keep=2, method="rsync")
    assert result.files == 1
    assert not [p.name for p in target.iterdir() if p.name.startswith(".tmp-")]
    pre = threading.Event()
    pre.set()
    with pytest.raises(BackupError, match="cancelled"):
        run_backup([src], target, keep=2, method="python", cancel=pre)
