"""Where the system node's readings come from, behind small interfaces.

* :class:`HostSource` - CPU, load, memory, disks, network counters, boot time. The real one is
  :class:`PsutilHost`; tests subclass it to feed changing mounts.
* :class:`CommandRunner` - runs an external tool (``vcgencmd``, ``wg``, ``hailortcli``,
  ``smartctl``) with a timeout (``core/procs.py``: killed and reaped, whatever it started too,
  when it times out or the node stops). Tests point the configured command at
  a captured sample (``cat tests/fixtures/...``), so the real subprocess path is exercised.
* :class:`HailoTemperature` - the Hailo-8 chip temperature via HailoRT's Python API; HailoRT's
  CLI has no polling temperature command (only ``run --measure-temp`` during an inference).
"""

from __future__ import annotations

import logging
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil

from spark.core.errors import ProcessError, SparkError
from spark.core.procs import run_process

log = logging.getLogger(__name__)

# Filesystems psutil reports as "physical" that are not worth a disk sensor.
SKIP_FSTYPES = frozenset({"squashfs", "iso9660", "udf"})
# What a tool may write (stdout, and stderr kept): smartctl -x of a disk is ~20-60 KB.
MAX_OUTPUT = 4 * 1024 * 1024


class CommandError(SparkError):
    """An external tool is missing, timed out or failed."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


class CommandRunner:
    """Runs tools with a timeout; never a shell. ``available`` checks the PATH once per tool."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._found: dict[str, bool] = {}

    def available(self, argv: list[str]) -> bool:
        if not argv:
            return False
        found = self._found.get(argv[0])
        if found is None:
            found = self._found[argv[0]] = shutil.which(argv[0]) is not None
        return found

    async def run(self, argv: list[str], *, check: bool = True) -> CommandResult:
        """Run ``argv`` to its end (at most ``timeout`` s; stdin /dev/null); with ``check``, a
        non-zero exit is a :class:`CommandError` too. Timed out or cancelled, the tool (and
        whatever it started) is killed and reaped before this returns (``core/procs.py``)."""
        if not self.available(argv):
            raise CommandError(f"{argv[0] if argv else '(empty command)'}: not installed")
        try:
            done = await run_process(argv, stdin=None, timeout=self.timeout,
                                     max_output=MAX_OUTPUT, err_keep=MAX_OUTPUT)
        except ProcessError as exc:
            if exc.reason == "start":
                raise CommandError(f"{argv[0]}: cannot start: {exc.__cause__}") from exc.__cause__
            if exc.reason == "timeout":
                raise CommandError(f"{' '.join(argv)}: no answer within {self.timeout:g} s"
                                   ) from None
            raise CommandError(f"{' '.join(argv)}: wrote over {MAX_OUTPUT} bytes") from None
        result = CommandResult(done.returncode, done.stdout.decode(errors="replace"),
                               done.stderr_tail.decode(errors="replace"))
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise CommandError(f"{' '.join(argv)}: exit {result.returncode}: "
                               f"{detail[-1] if detail else 'no output'}")
        return result


@dataclass(frozen=True, slots=True)
class Partition:
    device: str
    mountpoint: str
    fstype: str


@dataclass(frozen=True, slots=True)
class DiskUsage:
    total: int
    used: int
    free: int

    @property
    def percent(self) -> float:
        """Used share as ``df`` shows it (root-reserved blocks count as not available)."""
        avail = self.used + self.free
        return round(100.0 * self.used / avail, 2) if avail else 0.0


class HostSource(ABC):
    @abstractmethod
    def cpu_percent(self) -> float:
        """CPU use since the previous call, percent of all cores."""

    @abstractmethod
    def load_average(self) -> tuple[float, float, float]: ...

    @abstractmethod
    def memory_percent(self) -> float: ...

    @abstractmethod
    def partitions(self, everything: bool = False) -> list[Partition]:
        """Real (device-backed) filesystems, one per device; ``everything``: every mount
        (network and virtual filesystems too), to check configured mount points."""

    @abstractmethod
    def disk_usage(self, mountpoint: str) -> DiskUsage | None:
        """None when nothing is mounted there any more."""

    @abstractmethod
    def net_bytes(self, interfaces: list[str] | None) -> tuple[int, int]:
        """Total received and sent bytes over ``interfaces`` (None: all but loopback)."""

    @abstractmethod
    def boot_time(self) -> datetime: ...


class PsutilHost(HostSource):
    def cpu_percent(self) -> float:
        return float(psutil.cpu_percent(interval=None))

    def load_average(self) -> tuple[float, float, float]:
        one, five, fifteen = psutil.getloadavg()
        return one, five, fifteen

    def memory_percent(self) -> float:
        return float(psutil.virtual_memory().percent)

    def partitions(self, everything: bool = False) -> list[Partition]:
        if everything:
            return [Partition(p.device, p.mountpoint, p.fstype)
                    for p in psutil.disk_partitions(all=True)]
        by_device: dict[str, Partition] = {}
        for part in psutil.disk_partitions(all=False):
            if part.fstype in SKIP_FSTYPES or part.mountpoint.startswith(("/snap/", "/boot/efi")):
                continue
            seen = by_device.get(part.device)
            if seen is None or len(part.mountpoint) < len(seen.mountpoint):
                by_device[part.device] = Partition(part.device, part.mountpoint, part.fstype)
        return sorted(by_device.values(), key=lambda p: p.mountpoint)

    def disk_usage(self, mountpoint: str) -> DiskUsage | None:
        try:
            usage = psutil.disk_usage(mountpoint)
        except OSError:
            return None
        return DiskUsage(usage.total, usage.used, usage.free)

    def net_bytes(self, interfaces: list[str] | None) -> tuple[int, int]:
        rx = tx = 0
        for name, counters in psutil.net_io_counters(pernic=True).items():
            if (name in interfaces) if interfaces is not None else name != "lo":
                rx += counters.bytes_recv
                tx += counters.bytes_sent
        return rx, tx

    def boot_time(self) -> datetime:
        return datetime.fromtimestamp(psutil.boot_time(), UTC).replace(microsecond=0)


class HailoTemperature:
    """Reads ``ts0``/``ts1`` through ``hailo_platform`` (HailoRT's Python API) when installed.

    The device may be held by another process (Frigate); then the read fails and the node
    reports no temperature rather than fighting for the device.
    """

    def __init__(self) -> None:
        self._device: Any = None
        self.error: str | None = None

    def _open(self) -> Any:
        try:
            from hailo_platform import Device  # type: ignore[import-not-found]
        except ImportError as exc:
            raise CommandError(f"hailo_platform is not installed ({exc})") from None
        try:
            return Device()
        except Exception as exc:  # HailoRT raises its own exception types
            raise CommandError(f"cannot open the Hailo device: {exc}") from exc

    def read(self) -> float:
        """Average of the two on-die sensors, degrees Celsius. Blocking: run in a thread."""
        if self._device is None:
            self._device = self._open()
        try:
            info = self._device.control.get_chip_temperature()
            return round((float(info.ts0_temperature) + float(info.ts1_temperature)) / 2, 2)
        except Exception as exc:
            self._device = None
            raise CommandError(f"Hailo temperature read failed: {exc}") from exc
