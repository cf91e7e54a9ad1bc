"""Can the Hailo accelerator be used? Device presence and driver / firmware / library versions.

HailoRT refuses to work when the PCIe driver's version differs from the library's (``Driver
version (4.17.0) is different from library version (4.18.0)``, status
``HAILO_INVALID_DRIVER_VERSION``) and misbehaves when the chip's firmware is of another
major.minor: both happen after partial OS updates, and Frigate users report detection dying
silently. This check runs before the model loads and turns each case into one short reason.

``platform`` is the ``hailo_platform`` module (HailoRT's Python API) or a stand-in with the same
interface: ``__version__``, ``Device.scan()``, ``Device(id).control.identify()`` (whose
``firmware_version`` has ``major``/``minor``/``revision`` and ``device_architecture``),
``Device.release()``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DRIVER_VERSION_FILE = Path("/sys/module/hailo_pci/version")
_DRIVER_MISMATCH = re.compile(
    r"Driver version \(([^)]+)\) is different from library version \(([^)]+)\)")


@dataclass(frozen=True, slots=True)
class HailoStatus:
    reason: str | None = None  # None: usable
    library: str | None = None
    driver: str | None = None
    firmware: str | None = None
    architecture: str | None = None
    device_id: str | None = None

    @property
    def usable(self) -> bool:
        return self.reason is None

    def attributes(self) -> dict[str, str | None]:
        return {"hailort_library": self.library, "hailo_driver": self.driver,
                "hailo_firmware": self.firmware, "hailo_architecture": self.architecture,
                "hailo_device": self.device_id}


def mismatch_reason(text: str) -> str | None:
    """``driver X vs library Y`` when HailoRT's error text reports a driver mismatch."""
    found = _DRIVER_MISMATCH.search(text)
    return f"driver {found.group(1)} vs library {found.group(2)}" if found else None


def read_driver_version(path: Path) -> str | None:
    """The loaded ``hailo_pci`` module's version (sysfs), None when it is not loaded."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _version(fw: Any) -> str:
    if all(hasattr(fw, a) for a in ("major", "minor", "revision")):
        return f"{fw.major}.{fw.minor}.{fw.revision}"
    return str(fw).split()[0]  # "4.18.0 (release,app,...)"


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def check_device(platform: Any, driver_version_file: Path = DRIVER_VERSION_FILE) -> HailoStatus:
    """Presence and version agreement of the first Hailo device, as a :class:`HailoStatus`."""
    library = str(getattr(platform, "__version__", "")) or None
    driver = read_driver_version(driver_version_file)
    base = {"library": library, "driver": driver}

    def problem(reason: str, **more: Any) -> HailoStatus:
        return HailoStatus(reason=reason, **base, **more)

    try:
        device_ids = list(platform.Device.scan())
    except Exception as exc:
        return problem(mismatch_reason(str(exc)) or f"device scan failed: {exc}")
    if not device_ids:
        return problem("no Hailo device found (no module on the PCIe bus, or the hailo_pci "
                       "driver is not loaded: check lsmod / ls /dev/hailo*)")
    device_id = str(device_ids[0])
    if driver is not None and library is not None and driver != library:
        return problem(f"driver {driver} vs library {library}", device_id=device_id)
    device = None
    try:
        device = platform.Device(device_id)
        board = device.control.identify()
        firmware = _version(board.firmware_version)
        architecture = str(board.device_architecture)
    except Exception as exc:
        return problem(mismatch_reason(str(exc)) or f"cannot identify {device_id}: {exc}",
                       device_id=device_id)
    finally:
        if device is not None:
            with contextlib.suppress(Exception):
                device.release()
    found = {"device_id": device_id, "firmware": firmware, "architecture": architecture}
    if library is not None and _major_minor(firmware) != _major_minor(library):
        return problem(f"firmware {firmware} vs library {library}", **found)
    return HailoStatus(**base, **found)
