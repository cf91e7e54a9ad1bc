"""The real NAS backend: /proc/mounts + statvfs for mounts, ``smartctl --json`` for disks."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from spark.core.config.base import StrictModel
from spark.nodes.nas.backend import MountStatus, NasBackend, register
from spark.nodes.nas.smart import SmartError, SmartReport, parse_smartctl
from spark.nodes.system.parsers import ParseError, find_mount, parse_proc_mounts
from spark.nodes.system.sources import CommandError, CommandRunner

log = logging.getLogger(__name__)


class LocalBackendConfig(StrictModel):
    type: Literal["local"] = "local"
    proc_mounts: Path = Field(Path("/proc/mounts"), description="The kernel's mount table.")
    smartctl: list[str] = Field(
        default_factory=lambda: ["smartctl", "--json", "-a", "-n", "standby", "{device}"],
        description="smartctl argv; {device} is the disk path, {name} its basename. "
                    "'-n standby' leaves sleeping disks asleep. Add '-d', 'sat' if the USB "
                    "bridge needs it; prefix 'sudo', '-n' when not running as root.")
    command_timeout: float = Field(30.0, gt=0, description="Seconds before smartctl is killed.")
    statvfs_timeout: float = Field(5.0, gt=0, description="Seconds before a mount counts as "
                                                          "hung (dead NFS server).")

    @field_validator("smartctl")
    @classmethod
    def _argv(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("smartctl needs at least the program name")
        return v


def _statvfs(path: str) -> tuple[int, int, int]:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    return total, (st.f_blocks - st.f_bfree) * st.f_frsize, st.f_bavail * st.f_frsize


@register
class LocalNasBackend(NasBackend):
    type = "local"
    config: LocalBackendConfig

    def __init__(self, config: LocalBackendConfig) -> None:
        super().__init__(config)
        self.runner = CommandRunner(config.command_timeout)
        # statvfs on a dead NFS server blocks its thread: at most one pending per mount.
        self._statvfs: dict[str, asyncio.Future[tuple[int, int, int]]] = {}

    @property
    def smart_available(self) -> bool:
        return self.runner.available(self.config.smartctl)

    async def open(self) -> None:
        if not self.smart_available:
            log.warning("NAS: %s not found; no SMART entities (install smartmontools)",
                        self.config.smartctl[0])

    def argv(self, device: str) -> list[str]:
        name = Path(device).name
        argv = [a.replace("{device}", device).replace("{name}", name)
                for a in self.config.smartctl]
        if not any("{device}" in a or "{name}" in a for a in self.config.smartctl):
            argv.append(device)
        return argv

    async def mounts(self, mountpoints: list[str]) -> list[MountStatus]:
        try:
            text = await asyncio.to_thread(self.config.proc_mounts.read_text)
            table = parse_proc_mounts(text)
        except (OSError, ParseError) as exc:
            log.warning("NAS: cannot read %s: %s", self.config.proc_mounts, exc)
            return [MountStatus(m, mounted=False) for m in mountpoints]
        out = []
        for mountpoint in mountpoints:
            entry = find_mount(table, mountpoint)
            if entry is None:
                out.append(MountStatus(mountpoint, mounted=False))
                continue
            usage = await self._usage(entry.mountpoint)
            total, used, free = usage if usage is not None else (None, None, None)
            out.append(MountStatus(mountpoint, True, entry.read_only, total, used, free,
                                   entry.device, entry.fstype))
        return out

    async def _usage(self, mountpoint: str) -> tuple[int, int, int] | None:
        job = self._statvfs.get(mountpoint)
        if job is None or job.done():
            job = self._statvfs[mountpoint] = asyncio.ensure_future(
                asyncio.to_thread(_statvfs, mountpoint))
        try:
            async with asyncio.timeout(self.config.statvfs_timeout):
                return await asyncio.shield(job)
        except TimeoutError:
            log.warning("NAS: statvfs(%s) hangs (dead network filesystem?)", mountpoint)
        except OSError as exc:
            log.warning("NAS: statvfs(%s) failed: %s", mountpoint, exc)
        return None

    async def close(self) -> None:
        for job in self._statvfs.values():
            job.cancel()

    async def smart(self, device: str) -> SmartReport:
        try:
            result = await self.runner.run(self.argv(device), check=False)
        except CommandError as exc:
            raise SmartError(str(exc)) from exc
        if not result.stdout.strip():
            raise SmartError(f"smartctl printed nothing for {device} (exit {result.returncode}):"
                             f" {result.stderr.strip()[-200:]}")
        return parse_smartctl(result.stdout, device)
