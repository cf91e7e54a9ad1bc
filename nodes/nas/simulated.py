"""Simulated NAS backend: four SATA disks and mounts whose usage grows, for demos and tests.

The disks behave like hardware across restarts: each one's serial number and power-on hours
follow from its device name and a fixed install date (``INSTALLED``), so a restarted node
reports the same disks and a ``total_increasing`` counter that never goes back.

It produces smartctl-shaped JSON and runs it through the same parser as the real backend, so
the simulated node exercises the real assessment. One disk can be set failing (config or at
run time): its SMART status fails and reallocated / pending sectors grow on every read.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from spark.core.config.base import StrictModel
from spark.nodes.nas.backend import MountStatus, NasBackend, register
from spark.nodes.nas.smart import SmartError, SmartReport, parse_smartctl

TB = 1_000_000_000_000
_MODELS = [("ST4000VN008-2DR166", "ZGY5"), ("ST4000VN008-2DR166", "ZGY6"),
           ("WDC WD40EFRX-68N32N0", "WD-WCC7K"), ("WDC WD40EFRX-68N32N0", "WD-WCC7L")]
INSTALLED = datetime(2024, 1, 1, tzinfo=UTC).timestamp()  # when the simulated array was built
PRUNE_HOURS = 30 * 24  # the simulated mounts are pruned back to start_used_percent monthly


class SimulatedBackendConfig(StrictModel):
    type: Literal["simulated"] = "simulated"
    seed: int | None = Field(None, description="Random seed for repeatable readings.")
    failing_disk: str | None = Field(
        None, description="Disk (e.g. /dev/sdd) that is failing from the start.")
    failure_target: str = Field(
        "/dev/sdd", description="Disk the 'simulate disk failure' switch acts on.")
    mount_size_tb: float = Field(12.0, gt=0, description="Size of each simulated mount.")
    start_used_percent: float = Field(41.0, ge=0, le=100, description="Usage right after the "
                                      "monthly prune (the mounts fill up from there).")
    growth_gb_per_hour: float = Field(0.5, ge=0, description="How fast the mounts fill up.")


def _stable(device: str, salt: str, modulo: int) -> int:
    """A number fixed by the device name (not by a seed or the process): same on every start."""
    digest = hashlib.sha256(f"{salt}:{device}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


class _Disk:
    def __init__(self, device: str, index: int, rng: random.Random) -> None:
        model, serial = _MODELS[index % len(_MODELS)]
        self.device = device
        self.model = model
        self.serial = f"{serial}{10**4 + _stable(device, 'serial', 9 * 10**4)}"
        # Hours the disk had run before the array was built (a used disk: 0 to about 2 years).
        self.hours_before = _stable(device, "hours", 17_000)
        self.temperature = rng.uniform(31.0, 36.0)
        self.reallocated = 0
        self.pending = 0
        self.failing = False


@register
class SimulatedNasBackend(NasBackend):
    type = "simulated"
    config: SimulatedBackendConfig

    def __init__(self, config: SimulatedBackendConfig,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(config)
        self.clock = clock  # wall clock: power-on hours count from INSTALLED
        self.rng = random.Random(config.seed)
        self.disks: dict[str, _Disk] = {}
        self.unmounted: set[str] = set()
        self.read_only: set[str] = set()

    def _disk(self, device: str) -> _Disk:
        disk = self.disks.get(device)
        if disk is None:
            disk = self.disks[device] = _Disk(device, len(self.disks), self.rng)
            if device == self.config.failing_disk:
                self.set_failing(device, True)
        return disk

    def set_failing(self, device: str, failing: bool) -> None:
        disk = self._disk(device)
        disk.failing = failing
        if failing and disk.reallocated == 0:
            disk.reallocated, disk.pending = 8, 2
        elif not failing:  # a replaced disk: fresh counters
            disk.reallocated = disk.pending = 0

    def set_mounted(self, mountpoint: str, mounted: bool) -> None:
        (self.unmounted.discard if mounted else self.unmounted.add)(mountpoint)

    async def mounts(self, mountpoints: list[str]) -> list[MountStatus]:
        # Fills up by growth_gb_per_hour and is pruned back every PRUNE_HOURS, on the wall
        # clock: a restarted node carries on where it was instead of starting empty again.
        hours = (max(0.0, self.clock() - INSTALLED) / 3600) % PRUNE_HOURS
        total = int(self.config.mount_size_tb * TB)
        out = []
        for i, mountpoint in enumerate(mountpoints):
            if mountpoint in self.unmounted:
                out.append(MountStatus(mountpoint, mounted=False))
                continue
            share = self.config.start_used_percent / 100 + 0.03 * i
            used = min(total, int(total * share + hours * self.config.growth_gb_per_hour * 1e9
                                  + self.rng.uniform(0, 50e6)))
            out.append(MountStatus(mountpoint, True, mountpoint in self.read_only, total, used,
                                   total - used, f"/dev/md{i}", "ext4"))
        return out

    async def smart(self, device: str) -> SmartReport:
        if not device.startswith("/dev/"):
            raise SmartError(f"smartctl could not read {device}: no such device")
        disk = self._disk(device)
        disk.temperature += (34.0 - disk.temperature) * 0.1 + self.rng.gauss(0, 0.3)
        if disk.failing:
            disk.reallocated += self.rng.randrange(8, 64)
            disk.pending += self.rng.randrange(0, 4)
        return parse_smartctl(self.smartctl_json(disk), device)

    def power_on_hours(self, disk: _Disk) -> int:
        """Hours since the array was built plus the disk's earlier hours: never runs back,
        whatever the restarts (a clock set back before INSTALLED counts as INSTALLED)."""
        return disk.hours_before + int(max(0.0, self.clock() - INSTALLED) // 3600)

    def smartctl_json(self, disk: _Disk) -> dict[str, Any]:
        hours = self.power_on_hours(disk)
        temp = round(disk.temperature)

        def attr(id_: int, name: str, value: int, thresh: int, raw: int) -> dict[str, Any]:
            failed = "now" if thresh and value <= thresh else ""
            return {"id": id_, "name": name, "value": value, "worst": value, "thresh": thresh,
                    "when_failed": failed, "raw": {"value": raw, "string": str(raw)}}

        realloc_value = max(1, 100 - disk.reallocated // 16)
        return {
            "json_format_version": [1, 0],
            "smartctl": {"version": [7, 3], "argv": ["smartctl", "--json", "-a", disk.device],
                         "exit_status": 8 if disk.failing else 0},
            "device": {"name": disk.device, "info_name": f"{disk.device} [SAT]",
                       "type": "sat", "protocol": "ATA"},
            "model_name": disk.model, "serial_number": disk.serial,
            "smart_status": {"passed": not disk.failing},
            "ata_smart_attributes": {"revision": 10, "table": [
                attr(5, "Reallocated_Sector_Ct", realloc_value, 10, disk.reallocated),
                attr(9, "Power_On_Hours", 71, 0, hours),
                attr(194, "Temperature_Celsius", temp, 0, temp),
                attr(197, "Current_Pending_Sector", 100, 0, disk.pending),
                attr(198, "Offline_Uncorrectable", 100, 0, 0),
            ]},
            "power_on_time": {"hours": hours},
            "temperature": {"current": temp},
        }

