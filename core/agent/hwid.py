"""The hardware's id, shown as the device's serial number in Home Assistant. Unique ids and
device identifiers never use it (a new board would be a new device): see core.agent.identity."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

_SOURCES = (
    Path("/sys/firmware/devicetree/base/serial-number"),  # Raspberry Pi
    Path("/etc/machine-id"),
    Path("/var/lib/dbus/machine-id"),
)


def _clean(raw: str) -> str:
    return re.sub(r"[^a-z0-9]", "", raw.strip().strip("\0").lower())


def hardware_id(override: str | None = None) -> str:
    """Pi serial, else machine-id, else the MAC; lower-case alphanumerics, at most 16 chars."""
    if override:
        value = _clean(override)
        if value:
            return value[-16:]
    for path in _SOURCES:
        try:
            value = _clean(path.read_text())
        except OSError:
            continue
        if value and set(value) != {"0"}:
            return value[-16:]
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("serial"):
                value = _clean(line.split(":", 1)[1])
                if value and set(value) != {"0"}:
                    return value[-16:]
    except OSError:
        pass
    return f"{uuid.getnode():012x}"
