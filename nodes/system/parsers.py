"""Parsers for the real tools' output: pure functions, tested over captured samples.

``vcgencmd get_throttled``, ``wg show all dump``, ``/sys/class/thermal``, ``/proc/mounts`` and
``hailortcli fw-control identify``. Each raises :class:`ParseError` on text it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from spark.core.errors import SparkError


class ParseError(SparkError, ValueError):
    """A tool's output is not in the expected format."""


def slug(text: str, limit: int = 40) -> str:
    """A topic-safe lower-case id part: ``/mnt/data-1`` -> ``mnt_data_1``, ``/`` -> ``root``."""
    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].strip("_")
    return out or "root"


def path_slug(path: str, limit: int = 40) -> str:
    """Like :func:`slug` but keeps the end of long paths, where they differ."""
    out = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")[-limit:].strip("_")
    return out or "root"


# ---- vcgencmd get_throttled --------------------------------------------------------------
# Bit numbers from the Raspberry Pi documentation of ``vcgencmd get_throttled``.
THROTTLE_BITS: dict[str, int] = {
    "under_voltage": 0,
    "freq_capped": 1,
    "throttled": 2,
    "soft_temp_limit": 3,
    "under_voltage_occurred": 16,
    "freq_capped_occurred": 17,
    "throttled_occurred": 18,
    "soft_temp_limit_occurred": 19,
}


@dataclass(frozen=True, slots=True)
class Throttle:
    raw: int

    def flag(self, name: str) -> bool:
        return bool(self.raw >> THROTTLE_BITS[name] & 1)

    def flags(self) -> dict[str, bool]:
        return {name: self.flag(name) for name in THROTTLE_BITS}

    @property
    def occurred(self) -> bool:
        """Any of the sticky "has occurred since boot" bits."""
        return bool(self.raw & 0xF0000)


def parse_throttled(text: str) -> Throttle:
    """``throttled=0x50005`` -> Throttle(raw=0x50005)."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    if not match:
        raise ParseError(f"not vcgencmd get_throttled output: {text.strip()[:80]!r}")
    return Throttle(int(match.group(1), 0))


# ---- wg show all dump --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WgPeer:
    interface: str
    public_key: str
    preshared_key: bool
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: int  # unix seconds, 0 = never
    rx_bytes: int
    tx_bytes: int
    keepalive: int | None

    def handshake_age(self, now: float) -> float | None:
        return max(0.0, now - self.latest_handshake) if self.latest_handshake else None

    def connected(self, now: float, timeout: float) -> bool:
        age = self.handshake_age(now)
        return age is not None and age < timeout


def _none(value: str) -> str | None:
    return None if value in ("(none)", "") else value


def parse_wg_dump(text: str) -> list[WgPeer]:
    """Peers from ``wg show all dump``: tab-separated; interface lines have 5 fields
    (ifname, private key, public key, listen port, fwmark), peer lines 9 (ifname, public key,
    preshared key, endpoint, allowed ips, latest handshake, rx, tx, persistent keepalive)."""
    peers: list[WgPeer] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) == 5:
            continue
        if len(fields) != 9:
            raise ParseError(f"wg dump line {number}: {len(fields)} fields, expected 5 or 9")
        iface, key, psk, endpoint, ips, handshake, rx, tx, keepalive = fields
        try:
            peers.append(WgPeer(
                interface=iface,
                public_key=key,
                preshared_key=psk not in ("(none)", ""),
                endpoint=_none(endpoint),
                allowed_ips=tuple(ip for ip in ips.split(",") if ip and ip != "(none)"),
                latest_handshake=int(handshake),
                rx_bytes=int(rx),
                tx_bytes=int(tx),
                keepalive=None if keepalive == "off" else int(keepalive),
            ))
        except ValueError as exc:
            raise ParseError(f"wg dump line {number}: {exc}") from None
    return peers


# ---- /sys/class/thermal ------------------------------------------------------------------
# Zone types that measure the CPU / SoC, most specific first.
CPU_ZONE_TYPES = ("cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc-thermal", "soc_thermal",
                  "cpu0-thermal", "k10temp", "acpitz")


@dataclass(frozen=True, slots=True)
class ThermalZone:
    name: str  # thermal_zone0
    type: str  # cpu-thermal
    path: Path  # .../thermal_zone0/temp

    def read(self) -> float:
        """Degrees Celsius (the file holds millidegrees)."""
        return parse_millidegrees(self.path.read_text())


def parse_millidegrees(text: str) -> float:
    try:
        return int(text.strip()) / 1000.0
    except ValueError:
        raise ParseError(f"thermal zone temp is not an integer: {text.strip()[:20]!r}") from None


def thermal_zones(root: Path) -> list[ThermalZone]:
    zones = []
    for zone in sorted(root.glob("thermal_zone*"), key=lambda p: int(p.name[12:] or 0)):
        temp = zone / "temp"
        if not temp.is_file():
            continue
        try:
            kind = (zone / "type").read_text().strip()
        except OSError:
            kind = zone.name
        zones.append(ThermalZone(zone.name, kind, temp))
    return zones


def pick_cpu_zone(zones: list[ThermalZone], wanted: str | None = None) -> ThermalZone | None:
    """The configured zone type, else the most CPU-like one, else the first."""
    if wanted is not None:
        return next((z for z in zones if wanted in (z.type, z.name)), None)
    for kind in CPU_ZONE_TYPES:
        for zone in zones:
            if zone.type == kind:
                return zone
    return zones[0] if zones else None


# ---- /proc/mounts ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MountEntry:
    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def _unescape(field: str) -> str:
    """/proc/mounts escapes space, tab, newline and backslash as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_proc_mounts(text: str) -> list[MountEntry]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < 4:
            raise ParseError(f"/proc/mounts line {number}: {len(fields)} fields, expected 6")
        entries.append(MountEntry(_unescape(fields[0]), _unescape(fields[1]), fields[2],
                                  tuple(fields[3].split(","))))
    return entries


def find_mount(entries: list[MountEntry], mountpoint: str) -> MountEntry | None:
    """The entry currently visible at ``mountpoint`` (the last one mounted over it)."""
    wanted = mountpoint.rstrip("/") or "/"
    found = None
    for entry in entries:
        if entry.mountpoint == wanted:
            found = entry
    return found


# ---- hailortcli fw-control identify ------------------------------------------------------
_VERSION_MISMATCH = re.compile(r"libhailort version \(([^)]+)\) does not match HailoRT-CLI "
                               r"version \(([^)]+)\)")


@dataclass(frozen=True, slots=True)
class HailoIdentity:
    firmware_version: str | None
    architecture: str | None
    board_name: str | None
    serial_number: str | None
    part_number: str | None
    product_name: str | None

    def attributes(self) -> dict[str, str | None]:
        return {"firmware_version": self.firmware_version, "architecture": self.architecture,
                "board_name": self.board_name, "serial_number": self.serial_number,
                "part_number": self.part_number, "product_name": self.product_name}


def parse_hailo_identify(text: str) -> HailoIdentity:
    """``hailortcli fw-control identify`` output (``Key: value`` lines)."""
    mismatch = _VERSION_MISMATCH.search(text)
    if mismatch:
        raise ParseError(f"HailoRT library {mismatch.group(1)} does not match the CLI "
                         f"{mismatch.group(2)}: reinstall matching hailort packages")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields[key.strip().lower()] = value.strip()
    if "firmware version" not in fields and "device architecture" not in fields:
        raise ParseError(f"not hailortcli identify output: {text.strip()[:120]!r}")

    def attr(name: str) -> str | None:
        value = fields.get(name)
        return None if value in (None, "<N/A>") else value

    return HailoIdentity(attr("firmware version"), attr("device architecture"),
                         attr("board name"), attr("serial number"), attr("part number"),
                         attr("product name"))
