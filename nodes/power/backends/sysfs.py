"""Linux ``/sys/class/power_supply``: laptops, and UPS HATs whose fuel gauge has a kernel driver.

Per the kernel ABI (Documentation/ABI/testing/sysfs-class-power): ``type`` (Battery, Mains, USB,
UPS, Wireless), batteries with ``capacity`` (%), ``status`` (Charging, Discharging, Full,
Not charging, Unknown), ``voltage_now`` (µV), ``current_now`` (µA), ``power_now`` (µW),
``energy_now``/``energy_full`` (µWh) or ``charge_now``/``charge_full`` (µAh), optionally
``time_to_empty_now`` (s); mains/USB supplies with ``online``. Peripheral batteries (a wireless
mouse) carry ``scope`` = ``Device`` and are ignored.

Drivers disagree on the sign of ``current_now`` (ACPI reports a magnitude, fuel gauges sign it),
so the sign here comes from ``status`` when it says Charging or Discharging.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from pydantic import Field

from spark.nodes.power.backends.base import BackendConfig, Clock, PowerBackend, PowerReading
from spark.nodes.power.errors import BackendReadError, BackendUnavailable
from spark.nodes.power.messages import PowerSource

MAINS_TYPES = frozenset({"Mains", "USB", "UPS", "Wireless"})
# Only these attributes are read: some others (a HID peripheral's) cost a round trip to a device.
ATTRIBUTES = (
    "type", "scope", "present", "online", "status", "capacity", "capacity_level", "voltage_now",
    "current_now", "power_now", "energy_now", "energy_full", "charge_now", "charge_full",
    "time_to_empty_now", "cycle_count", "technology", "model_name", "manufacturer", "temp",
)


class SysfsBackendConfig(BackendConfig):
    type: Literal["sysfs"] = "sysfs"
    root: Path = Field(Path("/sys/class/power_supply"), description="The power_supply class dir.")
    battery: str | None = Field(
        None, description="Battery supply name (e.g. BAT0); default: the first system battery."
    )
    mains: list[str] | None = Field(
        None, description="Supplies that mean 'grid' when online; default: every Mains/USB/UPS."
    )


def _read_attrs(path: Path, names: tuple[str, ...] = ATTRIBUTES) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = (path / name).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:  # e.g. ENODATA from a gauge that is not ready: treat as absent
            continue
    return out


def _num(attrs: dict[str, str], key: str) -> float | None:
    try:
        return float(attrs[key])
    except (KeyError, ValueError):
        return None


def scan_supplies(
    root: Path, names: list[str] | None = None, attributes: tuple[str, ...] = ATTRIBUTES
) -> dict[str, dict[str, str]]:
    """Supplies under ``root`` (only ``names`` when given) with their attributes (blocking)."""
    if not root.is_dir():
        raise BackendUnavailable(f"{root} does not exist (no power_supply class on this machine?)")
    dirs = [root / n for n in names] if names is not None else sorted(root.iterdir())
    return {p.name: _read_attrs(p, attributes) for p in dirs if p.is_dir()}


def select_supplies(
    supplies: dict[str, dict[str, str]], battery: str | None, mains: list[str] | None
) -> tuple[str, list[str]]:
    """The battery to report and the supplies whose ``online`` means grid."""
    if battery is None:
        batteries = [n for n, a in supplies.items()
                     if a.get("type") == "Battery" and a.get("scope", "System") != "Device"
                     and a.get("present", "1") != "0"]
        if not batteries:
            raise BackendReadError(f"no system battery among {sorted(supplies)}")
        battery = batteries[0]
    if battery not in supplies:
        raise BackendReadError(f"no supply named {battery!r}; have {sorted(supplies)}")
    if mains is None:
        mains = [n for n, a in supplies.items() if a.get("type") in MAINS_TYPES]
    return battery, mains


def reading_from_supplies(
    supplies: dict[str, dict[str, str]], battery: str | None = None, mains: list[str] | None = None
) -> PowerReading:
    """Build a reading from scanned supplies (pure; tests feed captured trees)."""
    battery, mains = select_supplies(supplies, battery, mains)
    bat = supplies[battery]

    status = bat.get("status", "Unknown")
    uv = _num(bat, "voltage_now")
    volts = uv / 1e6 if uv is not None else None
    ua = _num(bat, "current_now")
    uw = _num(bat, "power_now")
    amps = abs(ua) / 1e6 if ua is not None else None
    watts = abs(uw) / 1e6 if uw is not None else None
    if amps is None and watts is not None and volts:
        amps = watts / volts
    if watts is None and amps is not None and volts is not None:
        watts = amps * volts
    if amps is not None and (status == "Discharging" or (status != "Charging" and (ua or 0) < 0)):
        amps = -amps

    percent = _num(bat, "capacity")
    if percent is None:
        for now_key, full_key in (("energy_now", "energy_full"), ("charge_now", "charge_full")):
            now, full = _num(bat, now_key), _num(bat, full_key)
            if now is not None and full:
                percent = max(0.0, min(100.0, 100.0 * now / full))
                break

    online = [supplies[n].get("online") == "1" for n in mains if n in supplies]
    on_grid: bool | None
    if online:
        on_grid = any(online)
    else:  # no mains supply exposed: infer from the battery's status
        on_grid = status != "Discharging" if status != "Unknown" else None
    source: PowerSource | None = None if on_grid is None else ("grid" if on_grid else "battery")

    tte = _num(bat, "time_to_empty_now")
    if tte is None and status == "Discharging":
        energy, charge = _num(bat, "energy_now"), _num(bat, "charge_now")
        if energy is not None and watts:
            tte = energy / 1e6 / watts * 3600.0
        elif charge is not None and amps:
            tte = charge / 1e6 / abs(amps) * 3600.0
    details: dict[str, object] = {"supply": battery, "status": status}
    for key in ("capacity_level", "cycle_count", "technology", "model_name", "manufacturer"):
        if key in bat:
            details[key] = bat[key]
    if "temp" in bat:  # tenths of a degree Celsius
        details["temperature_c"] = float(bat["temp"]) / 10.0
    return PowerReading(
        battery_percent=percent,
        voltage_v=volts,
        current_a=amps,
        power_w=watts,
        charging=status == "Charging",
        source=source,
        time_to_empty_s=tte,
        low_battery=bat.get("capacity_level") == "Critical",
        details=details,
    )


class SysfsBackend(PowerBackend):
    """Picks the battery and mains supplies once at :meth:`open`, then reads only those."""

    type = "sysfs"
    config: SysfsBackendConfig

    def __init__(self, config: SysfsBackendConfig, *, clock: Clock | None = None) -> None:
        super().__init__(config, clock=clock)
        self._battery: str | None = config.battery
        self._mains: list[str] | None = config.mains

    @property
    def name(self) -> str:
        return f"sysfs {self._battery or self.config.root}"

    async def open(self) -> None:
        root = self.config.root
        try:
            light = await asyncio.to_thread(scan_supplies, root, None, ("type", "scope", "present"))
            self._battery, self._mains = select_supplies(light, self.config.battery,
                                                         self.config.mains)
        except BackendReadError as exc:
            raise BackendUnavailable(f"{root}: {exc}") from exc
        except OSError as exc:
            raise BackendUnavailable(f"cannot read {root}: {exc}") from exc

    async def read(self) -> PowerReading:
        if self._battery is None or self._mains is None:
            await self.open()
        assert self._battery is not None and self._mains is not None
        names = [self._battery, *self._mains]
        try:
            supplies = await asyncio.to_thread(scan_supplies, self.config.root, names)
        except OSError as exc:
            raise BackendReadError(f"reading {self.config.root}: {exc}") from exc
        return reading_from_supplies(supplies, self._battery, self._mains)
