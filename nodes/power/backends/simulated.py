"""A simulated battery and grid, for `spark up` without hardware, demos and tests.

The battery charges from the grid (constant power up to 80 %, tapering to zero at 100 %) and
discharges into the load when the grid is cut; the load is ``load_w`` with Gaussian noise. The
terminal voltage follows the Li-ion curve for ``cells`` in series plus an internal-resistance
drop. Time comes from an injectable monotonic clock, scaled by ``time_scale`` so a demo can run
an hour of battery life in a minute.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from spark.nodes.power.backends.base import (
    BackendConfig,
    Clock,
    GridControl,
    PowerBackend,
    PowerReading,
)
from spark.nodes.power.curve import CURVES, voltage_from_percent

TAPER_FROM_PERCENT = 80.0


class SimulatedBackendConfig(BackendConfig):
    type: Literal["simulated"] = "simulated"
    capacity_wh: float = Field(50.0, gt=0, description="Usable battery energy.")
    initial_percent: float = Field(80.0, ge=0, le=100, description="State of charge at start.")
    load_w: float = Field(6.0, ge=0, description="Average load drawn from the battery off-grid.")
    load_noise_w: float = Field(0.4, ge=0, description="Standard deviation of the load.")
    charge_w: float = Field(15.0, gt=0, description="Charger power below 80 % state of charge.")
    cells: int = Field(3, ge=1, le=16, description="Li-ion cells in series.")
    internal_ohms: float = Field(0.15, ge=0, description="Pack internal resistance.")
    grid_on: bool = Field(True, description="Grid state at start.")
    time_scale: float = Field(1.0, gt=0, description="Simulated seconds per real second.")
    seed: int | None = Field(None, description="Random seed for repeatable load noise.")


class SimulatedBackend(PowerBackend, GridControl):
    """Integrates energy between reads (and at every grid switch)."""

    type = "simulated"
    config: SimulatedBackendConfig

    def __init__(self, config: SimulatedBackendConfig, *, clock: Clock | None = None) -> None:
        super().__init__(config, clock=clock)
        self.rng = random.Random(config.seed)
        self.energy_wh = config.capacity_wh * config.initial_percent / 100.0
        self._grid = config.grid_on
        self._last = self.clock()
        self._curve = CURVES["li-ion"]
        self._load = config.load_w
        self._battery_w = 0.0  # + charging, - discharging

    @property
    def name(self) -> str:
        return "simulated"

    @property
    def grid_on(self) -> bool:
        return self._grid

    @property
    def percent(self) -> float:
        return 100.0 * self.energy_wh / self.config.capacity_wh

    def _battery_power(self) -> float:
        """Battery power now: + into the battery from the charger, - into the load."""
        cfg = self.config
        if self._grid:
            pct = self.percent
            if pct >= 100.0:
                return 0.0
            taper = 1.0 if pct < TAPER_FROM_PERCENT else (100.0 - pct) / (100 - TAPER_FROM_PERCENT)
            return cfg.charge_w * max(taper, 0.02)
        return -self._load if self.energy_wh > 0 else 0.0

    def _advance(self) -> None:
        now = self.clock()
        dt_h = max(0.0, now - self._last) * self.config.time_scale / 3600.0
        self._last = now
        self.energy_wh = min(self.config.capacity_wh,
                             max(0.0, self.energy_wh + self._battery_power() * dt_h))

    async def read(self) -> PowerReading:
        cfg = self.config
        self._advance()
        self._load = max(0.0, self.rng.gauss(cfg.load_w, cfg.load_noise_w))
        power = self._battery_power()
        pct = self.percent
        ocv = cfg.cells * voltage_from_percent(pct, self._curve)
        amps = power / ocv
        volts = ocv + amps * cfg.internal_ohms
        tte = None
        if not self._grid and self._load > 0:
            tte = self.energy_wh / self._load * 3600.0 / cfg.time_scale
        return PowerReading(
            battery_percent=round(pct, 2),
            voltage_v=round(volts, 3),
            current_a=round(amps, 4),
            power_w=round(abs(power), 3),
            charging=power > 0,
            source="grid" if self._grid else "battery",
            time_to_empty_s=tte,
            details={"load_w": round(self._load, 3), "energy_wh": round(self.energy_wh, 4),
                     "simulated": True},
        )

    async def cut_grid(self) -> None:
        self._advance()
        self._grid = False

    async def restore_grid(self) -> None:
        self._advance()
        self._grid = True
