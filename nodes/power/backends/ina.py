"""INA219 / INA226 current sensors over I²C (``smbus2``), as on Raspberry Pi UPS HATs.

The Waveshare UPS HAT puts an INA219 at 0x42 with a 0.1 Ω shunt in the battery path of a 2-cell
(UPS HAT, 6.0-8.4 V) or 3-cell (UPS Module 3S, 9.0-12.6 V) pack; others use an INA226. Without a
fuel gauge, battery percent comes from the pack voltage through a per-cell curve
(``nodes/power/curve.py``). Charging current flows into the battery: with the shunt wired the
other way round set ``invert_current``.

Register maths live in ``ina_regs.py``; this module only moves words over the bus. A chip that
lost its calibration (brown-out, another program reset it) reads zero current: the calibration
register is read back on every poll and rewritten when it differs.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from spark.nodes.power.backends import ina_regs as regs
from spark.nodes.power.backends.base import BackendConfig, Clock, PowerBackend, PowerReading
from spark.nodes.power.curve import CURVES, check_curve, percent_from_voltage
from spark.nodes.power.errors import BackendReadError, BackendUnavailable

log = logging.getLogger(__name__)


class _InaCommon(BackendConfig):
    bus: int = Field(1, ge=0, description="I²C bus number (/dev/i2c-N); 1 on a Raspberry Pi.")
    address: int = Field(0x42, ge=0x03, le=0x77, description="7-bit I²C address.")
    shunt_ohms: float = Field(0.1, gt=0, description="Shunt resistor in ohms.")
    max_current_a: float | None = Field(
        None, gt=0, description="Largest expected current; default: shunt full scale / shunt."
    )
    cells: int = Field(2, ge=1, le=16, description="Cells in series in the pack.")
    curve: Literal["li-ion", "lifepo4", "linear"] | list[tuple[float, float]] = Field(
        "li-ion", description="Per-cell (volts, percent) curve, or a named one."
    )
    capacity_wh: float | None = Field(
        None, gt=0, description="Pack energy, for time to empty; None: not estimated."
    )
    invert_current: bool = Field(False, description="Shunt wired so that charging reads < 0.")
    grid_current_a: float = Field(
        0.05, ge=0, description="Battery current above -this counts as 'on grid' (not supplying)."
    )

    @field_validator("curve")
    @classmethod
    def _curve(cls, v: Any) -> Any:
        return v if isinstance(v, str) else list(check_curve(v))

    @model_validator(mode="after")
    def _calibration_fits(self) -> _InaCommon:
        self.calibration()  # raises ValueError naming the chip and the values
        return self

    def curve_points(self) -> tuple[tuple[float, float], ...]:
        return CURVES[self.curve] if isinstance(self.curve, str) else tuple(self.curve)

    def chip(self) -> regs.InaChip:
        return regs.CHIPS[getattr(self, "type", "ina219")]

    def current_lsb(self) -> float:
        full_scale = self.chip().shunt_full_scale_v / self.shunt_ohms
        return regs.round_current_lsb(self.max_current_a or full_scale)

    def calibration(self) -> int:
        return self.chip().calibration(self.current_lsb(), self.shunt_ohms)


class Ina219BackendConfig(_InaCommon):
    type: Literal["ina219"] = "ina219"


class Ina226BackendConfig(_InaCommon):
    type: Literal["ina226"] = "ina226"
    address: int = Field(0x40, ge=0x03, le=0x77, description="7-bit I²C address.")


class I2CBus(ABC):
    """Word access to I²C registers with SMBus byte order (low byte first)."""

    @abstractmethod
    def read_word(self, address: int, register: int) -> int: ...

    @abstractmethod
    def write_word(self, address: int, register: int, word: int) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class Smbus2Bus(I2CBus):
    """``/dev/i2c-N`` through smbus2, imported only when an INA backend is used."""

    def __init__(self, bus: int) -> None:
        try:
            smbus2 = importlib.import_module("smbus2")
        except ImportError as exc:
            raise BackendUnavailable(
                "the ina219/ina226 power backends need the smbus2 package: pip install smbus2"
            ) from exc
        try:
            self._bus = smbus2.SMBus(bus)
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot open /dev/i2c-{bus}: {exc} (enable I²C with raspi-config; is the user "
                "in the i2c group?)"
            ) from exc

    def read_word(self, address: int, register: int) -> int:
        return int(self._bus.read_word_data(address, register))

    def write_word(self, address: int, register: int, word: int) -> None:
        self._bus.write_word_data(address, register, word)

    def close(self) -> None:
        self._bus.close()


class InaBackend(PowerBackend):
    """Battery voltage, current and power from an INA219 or INA226."""

    type = "ina"
    config: Ina219BackendConfig | Ina226BackendConfig

    def __init__(
        self,
        config: Ina219BackendConfig | Ina226BackendConfig,
        *,
        clock: Clock | None = None,
        bus: I2CBus | None = None,
    ) -> None:
        super().__init__(config, clock=clock)
        self.chip = config.chip()
        self.current_lsb = config.current_lsb()
        self.calibration = config.calibration()
        if self.chip is regs.INA219:
            self.config_word = regs.ina219_config()
        else:
            self.config_word = regs.ina226_config()
        self._bus = bus
        self._curve = config.curve_points()
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return f"{self.chip.name} {self.config.bus}:0x{self.config.address:02x}"

    # ---- bus access (blocking; runs in a worker thread) -------------------------------
    def _read(self, register: int) -> int:
        assert self._bus is not None
        return regs.swap16(self._bus.read_word(self.config.address, register))

    def _write(self, register: int, value: int) -> None:
        assert self._bus is not None
        self._bus.write_word(self.config.address, register, regs.swap16(value))

    def _setup(self) -> None:
        if self._bus is None:
            self._bus = Smbus2Bus(self.config.bus)
        try:
            if self.chip is regs.INA226:
                maker = self._read(regs.REG_MANUFACTURER_ID)
                if maker != regs.TI_MANUFACTURER_ID:
                    raise BackendUnavailable(
                        f"no INA226 at 0x{self.config.address:02x} (manufacturer id "
                        f"0x{maker:04x}, expected 0x{regs.TI_MANUFACTURER_ID:04x})"
                    )
            self._write(regs.REG_CALIBRATION, self.calibration)
            self._write(regs.REG_CONFIG, self.config_word)
        except OSError as exc:
            raise BackendUnavailable(
                f"no answer from {self.chip.name} at 0x{self.config.address:02x} on "
                f"/dev/i2c-{self.config.bus}: {exc}"
            ) from exc

    def _sample(self) -> dict[str, int]:
        try:
            cal = self._read(regs.REG_CALIBRATION)
            if cal != self.calibration:
                log.warning("%s: calibration reads 0x%04x, rewriting 0x%04x (chip reset?)",
                            self.name, cal, self.calibration)
                self._write(regs.REG_CALIBRATION, self.calibration)
                self._write(regs.REG_CONFIG, self.config_word)
            return {
                "bus": self._read(regs.REG_BUS),
                "shunt": self._read(regs.REG_SHUNT),
                "current": self._read(regs.REG_CURRENT),
                "power": self._read(regs.REG_POWER),
            }
        except OSError as exc:
            raise BackendReadError(f"{self.name}: I²C read failed: {exc}") from exc

    # ---- backend API ------------------------------------------------------------------
    async def open(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._setup)

    async def read(self) -> PowerReading:
        async with self._lock:
            if self._bus is None:
                await asyncio.to_thread(self._setup)
            raw = await asyncio.to_thread(self._sample)
        return self.reading_from_registers(raw)

    def reading_from_registers(self, raw: dict[str, int]) -> PowerReading:
        """Turn register values (chip order) into a reading (pure apart from config)."""
        cfg, chip = self.config, self.chip
        volts = chip.bus_voltage(raw["bus"])
        amps = chip.current(raw["current"], self.current_lsb)
        if cfg.invert_current:
            amps = -amps
        watts = chip.power(raw["power"], self.current_lsb)
        details: dict[str, Any] = {"shunt_mv": round(chip.shunt_voltage(raw["shunt"]) * 1e3, 3),
                                   "calibration": self.calibration}
        if chip is regs.INA219 and regs.ina219_bus_flags(raw["bus"])[1]:
            raise BackendReadError(f"{self.name}: math overflow (current beyond the range)")
        percent = percent_from_voltage(volts / cfg.cells, self._curve)
        on_grid = amps > -cfg.grid_current_a
        tte = None
        if not on_grid and cfg.capacity_wh and watts > 0:
            tte = cfg.capacity_wh * percent / 100.0 / watts * 3600.0
        return PowerReading(
            battery_percent=round(percent, 1),
            voltage_v=volts,
            current_a=amps,
            power_w=watts,
            charging=amps > cfg.grid_current_a,
            source="grid" if on_grid else "battery",
            time_to_empty_s=tte,
            details=details,
        )

    async def close(self) -> None:
        async with self._lock:
            if self._bus is not None:
                bus, self._bus = self._bus, None
                await asyncio.to_thread(bus.close)
