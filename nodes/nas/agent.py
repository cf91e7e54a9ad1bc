"""NAS node: mounts, SMART disk health, NFS/SMB reachability and snapshot backups.

Three loops run under one TaskGroup: mounts + exports + telemetry every ``state_interval``,
SMART every ``smart_interval`` (sleeping disks are left asleep), and the backup schedule.
The ``backup`` button starts a backup and returns at once; the outcome arrives as a
``backup_result`` event (``success`` / ``failure``) and in the ``last_backup`` sensor.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.entities import Entity
from spark.core.errors import PayloadError
from spark.core.link import tcp_reachable
from spark.core.messages.telemetry import TelemetryMessage
from spark.nodes.nas import entities as ent
from spark.nodes.nas.backend import MountStatus, NasBackend, make_backend
from spark.nodes.nas.backup import (
    BackupError,
    BackupResult,
    list_snapshots,
    run_backup,
    snapshot_time,
    verify_snapshot,
)
from spark.nodes.nas.config import NasNodeConfig
from spark.nodes.nas.simulated import SimulatedNasBackend
from spark.nodes.nas.smart import SmartError, SmartReport, assess

log = logging.getLogger(__name__)

FIRST_BACKUP_DELAY = 60.0  # seconds after start when no snapshot exists yet
RETRY_AFTER_FAILURE = 900.0


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """True if ``event`` was set within ``seconds``."""
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
    except TimeoutError:
        return False
    return True


class NasNode(NodeAgent[NasNodeConfig]):
    kind: ClassVar[str] = "nas"
    model: ClassVar[str] = "Argon EON NAS"

    def __init__(self, ctx: NodeContext[NasNodeConfig], *,
                 backend: NasBackend | None = None) -> None:
        """``backend``: a real :class:`NasBackend` subclass instead of the configured one."""
        super().__init__(ctx)
        self.backend: NasBackend = backend or make_backend(self.cfg.backend)
        self.reports: dict[str, SmartReport] = {}
        self.problems: dict[str, list[str]] = {}
        self.mounts: dict[str, MountStatus] = {}
        self.exports_up: dict[str, bool] = {}
        self.last_backup: datetime | None = None
        self.last_result: BackupResult | None = None
        self._backup_lock = asyncio.Lock()
        self._backup_task: asyncio.Task[bool] | None = None
        self._smart_wakeup = asyncio.Event()
        self._reschedule = asyncio.Event()
        self._smart_errors: dict[str, str] = {}

    @property
    def simulated(self) -> bool:
        return isinstance(self.backend, SimulatedNasBackend)

    def declare_entities(self) -> list[Entity]:
        return ent.declare(self.cfg, self.simulated)

    async def setup(self) -> None:
        await self.backend.open()
        if self.backend.smart_available:
            for device in self.cfg.disks:
                for entity in ent.disk_entities(device):
                    self.add_entity(entity)
        if self.cfg.backup.enabled:
            self.on_command("backup", self._press_backup)
            self.set_state("backup_running", False)
            assert self.cfg.backup.target is not None
            snapshots = await asyncio.to_thread(list_snapshots, self.cfg.backup.target)
            if snapshots:
                self.last_backup = snapshot_time(snapshots[-1])
                self.set_state("last_backup", self.last_backup,
                               {"snapshot": snapshots[-1].name, "snapshots": len(snapshots)})
        if self.simulated:
            self.on_command("simulate_disk_failure", self._simulate_failure)
            sim = self.backend
            assert isinstance(sim, SimulatedNasBackend)
            self.set_state("simulate_disk_failure",
                           sim.config.failing_disk == sim.config.failure_target)

    async def teardown(self) -> None:
        if self._backup_task is not None:
            self._backup_task.cancel()
        await self.backend.close()

    async def work(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._status_loop(), name=f"{self.node_id}-status")
            if self.backend.smart_available and self.cfg.disks:
                tg.create_task(self._smart_loop(), name=f"{self.node_id}-smart")
            if self.cfg.backup.enabled and self.cfg.backup.interval_hours:
                tg.create_task(self._backup_schedule(), name=f"{self.node_id}-backup")

    # ---- mounts, exports, telemetry ---------------------------------------------------
    async def _status_loop(self) -> None:
        while True:
            try:
                await self.refresh_status()
            except Exception:
                log.exception("%s: status round failed", self.node_id)
            await asyncio.sleep(self.cfg.state_interval)

    async def refresh_status(self) -> None:
        for status in await self.backend.mounts(self.cfg.mounts):
            self.mounts[status.mountpoint] = status
            key = ent.mount_key(status.mountpoint)
            self.set_state(f"{key}_mounted", status.mounted,
                           {"device": status.device, "fstype": status.fstype})
            self.set_state(f"{key}_read_only", status.read_only if status.mounted else None)
            free = None if status.free is None else round(status.free / 1e9, 2)
            self.set_state(f"{key}_used", status.used_percent,
                           {"total_bytes": status.total, "free_bytes": status.free})
            self.set_state(f"{key}_free", free)
        checks = [tcp_reachable(e.host, e.tcp_port, e.timeout) for e in self.cfg.exports]
        for export, up in zip(self.cfg.exports, await asyncio.gather(*checks), strict=True):
            self.exports_up[export.name] = up
            self.set_state(ent.export_key(export), up,
                           {"host": export.host, "port": export.tcp_port,
                            "protocol": export.protocol})
        self._publish_telemetry()

    def telemetry_readings(self) -> dict[str, Any]:
        readings: dict[str, Any] = {}
        for mountpoint, status in self.mounts.items():
            key = ent.mount_key(mountpoint)
            readings[f"{key}_mounted"] = status.mounted
            readings[f"{key}_used"] = status.used_percent
            readings[f"{key}_free"] = None if status.free is None else round(status.free / 1e9, 2)
        for export in self.cfg.exports:
            readings[ent.export_key(export)] = self.exports_up.get(export.name)
        for device, report in self.reports.items():
            key = ent.disk_key(device)
            readings[key] = bool(self.problems.get(device))
            readings[f"{key}_temperature"] = report.temperature
            readings[f"{key}_reallocated"] = report.reallocated
        return readings

    def _publish_telemetry(self) -> None:
        if self.cfg.telemetry and self.client is not None:
            msg = TelemetryMessage.from_readings(self.node_id, self.telemetry_readings())
            self.client.publish(self.layout.telemetry(self.node_id), msg.to_payload(), 0, False)

    # ---- SMART ------------------------------------------------------------------------
    async def _smart_loop(self) -> None:
        while True:
            self._smart_wakeup.clear()
            try:
                await self.refresh_smart()
            except Exception:
                log.exception("%s: SMART round failed", self.node_id)
            await _wait(self._smart_wakeup, self.cfg.smart_interval)

    async def refresh_smart(self) -> None:
        for device in self.cfg.disks:  # one at a time: the disks share one USB bridge
            key = ent.disk_key(device)
            try:
                report = await self.backend.smart(device)
            except SmartError as exc:
                if self._smart_errors.get(device) != str(exc):
                    log.warning("%s: SMART of %s: %s", self.node_id, device, exc)
                self._smart_errors[device] = str(exc)
                self.set_state(key, None, {"device": device, "error": str(exc)})
                continue
            self._smart_errors.pop(device, None)
            previous = self.reports.get(device)
            if report.standby:  # asleep: keep what we knew, do not wake it
                attrs = previous.attributes() if previous else {"device": device}
                self.set_state(key, self.state(key), {**attrs, "standby": True,
                                                      "problems": self.problems.get(device)})
                continue
            reasons = assess(report, previous, self.cfg.reallocated_limit)
            if reasons and not self.problems.get(device):
                log.warning("%s: disk %s is failing: %s", self.node_id, device,
                            "; ".join(reasons))
            self.reports[device], self.problems[device] = report, reasons
            self.set_state(key, bool(reasons), {**report.attributes(), "standby": False,
                                                "problems": reasons})
            self.set_state(f"{key}_temperature", report.temperature)
            self.set_state(f"{key}_power_on_hours", report.power_on_hours)
            self.set_state(f"{key}_reallocated", report.reallocated)

    def _simulate_failure(self, on: bool) -> None:
        sim = self.backend
        assert isinstance(sim, SimulatedNasBackend)
        sim.set_failing(sim.config.failure_target, on)
        self.set_state("simulate_disk_failure", on)
        self._smart_wakeup.set()

    # ---- backups ----------------------------------------------------------------------
    def _press_backup(self, _value: Any) -> None:
        if self._backup_lock.locked():
            raise PayloadError("a backup is already running")
        self._backup_task = asyncio.create_task(self.backup("button"),
                                                name=f"{self.node_id}-backup-now")

    async def backup(self, trigger: str) -> bool:
        """Run one backup (+ verification); fires ``backup_result``. True on success."""
        async with self._backup_lock:
            self.set_state("backup_running", True)
            try:
                result: BackupResult | None = await self._make_backup()
                error = ""
            except asyncio.CancelledError:
                self.set_state("backup_running", False)
                raise
            except Exception as exc:
                result = None
                error = str(exc) if isinstance(exc, BackupError) else f"internal error: {exc!r}"
            self.set_state("backup_running", False)  # before the event: the result means done
            if result is None:
                log.error("%s: %s backup failed: %s", self.node_id, trigger, error)
                self.fire_event("backup_result", "failure", trigger=trigger, error=error)
            else:
                self.last_result = result
                self.last_backup = snapshot_time(result.snapshot)
                self.set_state("last_backup", self.last_backup,
                               {"snapshot": result.snapshot.name, "files": result.files,
                                "bytes": result.bytes, "method": result.method})
                log.info("%s: backup %s: %d files, %d bytes in %.1f s", self.node_id,
                         result.snapshot.name, result.files, result.bytes, result.duration_s)
                self.fire_event("backup_result", "success", trigger=trigger,
                                snapshot=result.snapshot.name, files=result.files,
                                bytes=result.bytes, duration_s=result.duration_s,
                                method=result.method, verified=self.cfg.backup.verify,
                                pruned=result.pruned)
            self._reschedule.set()
            return result is not None

    async def _make_backup(self) -> BackupResult:
        b = self.cfg.backup
        assert b.target is not None
        await self._check_target_mounted(b.target)
        cancel = threading.Event()
        try:
            result = await asyncio.to_thread(run_backup, b.sources, b.target, keep=b.keep,
                                             method=b.method, cancel=cancel)
        except asyncio.CancelledError:
            cancel.set()  # the thread goes on: it ends rsync and stops
            raise
        if b.verify:
            check = await asyncio.to_thread(verify_snapshot, result.snapshot)
            if not check.ok:
                raise BackupError(f"verification of {result.snapshot.name} failed: "
                                  f"{check.summary()}")
        return result

    async def _check_target_mounted(self, target: Path) -> None:
        """Refuse to write onto the disk underneath an unmounted NAS volume (the SD card)."""
        under = [m for m in self.cfg.mounts if Path(m) == target or Path(m) in target.parents]
        if under:
            mount = max(under, key=len)
            (status,) = await self.backend.mounts([mount])
            if not status.mounted:
                raise BackupError(f"{mount} is not mounted; not writing the backup to the disk "
                                  "underneath it")
            if status.read_only:
                raise BackupError(f"{mount} is mounted read-only")

    async def _backup_schedule(self) -> None:
        assert self.cfg.backup.interval_hours is not None
        period = self.cfg.backup.interval_hours * 3600
        last = self.last_backup
        due = last.timestamp() + period if last else time.time() + FIRST_BACKUP_DELAY
        while True:
            self._reschedule.clear()
            if await _wait(self._reschedule, due - time.time()):
                if self.last_backup is not None:  # a button backup: count from it
                    due = self.last_backup.timestamp() + period
                continue
            if self._backup_lock.locked():  # a button backup is running: count from it
                async with self._backup_lock:
                    pass
                continue
            ok = await self.backup("schedule")
            due = time.time() + (period if ok else min(period, RETRY_AFTER_FAILURE))
