"""The power node: battery / UPS / grid entities and the retained power-state message.

Every ``state_interval`` (and right after a grid or mode command) the backend is read; the
entities are updated, the low-battery latch may fire its event, the routing strategy is derived
(``strategy.py``) and the power-state message on ``<base>/<node>/power`` is re-published when
its content changed. A failing backend keeps the node up: its readings turn unknown and the
diagnostic ``backend_problem`` entity says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any, ClassVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.discovery import DeviceInfo
from spark.core.agent.entities import BinarySensor, Entity, Event, Select, Sensor, Switch
from spark.nodes.power.backends import (
    Clock,
    GridControl,
    PowerBackend,
    PowerReading,
    make_backend,
)
from spark.nodes.power.config import PowerNodeConfig
from spark.nodes.power.errors import PowerError
from spark.nodes.power.messages import POWER_MODES, POWER_SOURCES, STRATEGIES, PowerMode, PowerState
from spark.nodes.power.settings import load_mode, save_mode, settings_path
from spark.nodes.power.strategy import LowBatteryLatch, derive_strategy, is_low

log = logging.getLogger(__name__)


class PowerNode(NodeAgent[PowerNodeConfig]):
    kind: ClassVar[str] = "power"
    model: ClassVar[str] = "Prime Spark power node"

    def __init__(self, ctx: NodeContext[PowerNodeConfig], *, backend: PowerBackend | None = None,
                 clock: Clock | None = None) -> None:
        """``backend``: a real :class:`PowerBackend` subclass instead of the configured one (tests,
        demos); ``clock``: the configured backend's time source."""
        super().__init__(ctx)
        self.backend: PowerBackend = (
            backend if backend is not None else make_backend(self.cfg.backend, clock=clock))
        self.thresholds = self.cfg.thresholds()
        self.settings_file = settings_path(self.cfg.data_dir, self.node_id)
        self.mode: PowerMode = self.cfg.mode  # the saved mode is read in setup()
        self.latch = LowBatteryLatch(self.thresholds)
        self.low = False
        self.reading: PowerReading | None = None
        self.strategy = derive_strategy(None, self.mode, self.thresholds)
        self.power_state: PowerState | None = None
        self.reads = 0
        self._wake = asyncio.Event()

    @property
    def grid(self) -> GridControl | None:
        return self.backend if isinstance(self.backend, GridControl) else None

    def device_info(self) -> DeviceInfo:
        info = super().device_info()
        if self.cfg.backend.type == "simulated":
            return dataclasses.replace(info, model=f"{self.model} (simulated)")
        return info

    def declare_entities(self) -> list[Entity]:
        entities: list[Entity] = [
            Sensor(key="battery", name="Battery", device_class="battery", unit="%",
                   state_class="measurement", suggested_display_precision=0),
            Sensor(key="voltage", name="Battery voltage", device_class="voltage", unit="V",
                   state_class="measurement", suggested_display_precision=2),
            Sensor(key="current", name="Battery current", device_class="current", unit="A",
                   state_class="measurement", suggested_display_precision=2),
            Sensor(key="power_draw", name="Load", device_class="power", unit="W",
                   state_class="measurement", suggested_display_precision=1),
            BinarySensor(key="charging", name="Charging", device_class="battery_charging"),
            Sensor(key="power_source", name="Source", options=list(POWER_SOURCES),
                   icon="mdi:transmission-tower"),
            Sensor(key="time_to_empty", name="Time to empty", device_class="duration",
                   unit="min", state_class="measurement", suggested_display_precision=0),
            Select(key="power_mode", name="Mode", options=list(POWER_MODES),
                   icon="mdi:power-settings"),
            Sensor(key="strategy", name="Routing strategy", options=list(STRATEGIES),
                   icon="mdi:call-split"),
            Event(key="low_battery", name="Low battery", event_types=["low_battery", "recovered"],
                  icon="mdi:battery-alert"),
            Sensor(key="backend", name="Backend", entity_category="diagnostic",
                   attributes=True, icon="mdi:chip"),
            BinarySensor(key="backend_problem", name="Backend problem",
                         device_class="problem", entity_category="diagnostic", attributes=True),
        ]
        if self.grid is not None:
            entities.append(Switch(key="grid", name="Grid (simulated)", device_class="switch",
                                   icon="mdi:transmission-tower"))
        return entities

    # ---- lifecycle --------------------------------------------------------------------
    async def setup(self) -> None:
        self.mode = await asyncio.to_thread(load_mode, self.settings_file, self.cfg.mode)
        self.strategy = derive_strategy(None, self.mode, self.thresholds)
        self.on_command("power_mode", self._set_mode)
        self.set_state("power_mode", self.mode)
        self.set_state("strategy", self.strategy)
        self.set_state("backend", self.backend.name)
        if self.grid is not None:
            self.on_command("grid", self._set_grid)
            self.set_state("grid", self.grid.grid_on)
        try:
            await self.backend.open()
        except PowerError as exc:  # keep running: the entity shows it, reads retry
            log.error("%s: power backend %s unavailable: %s", self.node_id, self.backend.name, exc)
            self._health(str(exc))

    async def teardown(self) -> None:
        with contextlib.suppress(Exception):
            await self.backend.close()

    async def work(self) -> None:
        while True:
            self._wake.clear()
            await self.poll()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.cfg.state_interval):
                    await self._wake.wait()

    def announce(self, force: bool = True) -> None:
        super().announce(force)
        if self.power_state is not None and self.client is not None:
            self.client.publish(self.layout.power_state(self.node_id),
                                self.power_state.to_payload(), 1, True)

    # ---- reading ----------------------------------------------------------------------
    async def poll(self) -> PowerReading | None:
        """Read the backend once and publish everything that follows from it."""
        reading: PowerReading | None = None
        try:
            async with asyncio.timeout(self.cfg.read_timeout):
                reading = await self.backend.read()
        except TimeoutError:
            self._health(f"read took longer than {self.cfg.read_timeout} s")
        except PowerError as exc:
            self._health(str(exc))
        except Exception as exc:
            log.exception("%s: power backend %s failed", self.node_id, self.backend.name)
            self._health(f"internal error: {exc!r}")
        else:
            self._health(None, reading.details)
        self.reads += 1
        self.reading = reading
        self._publish_reading(reading)
        event = self.latch.update(reading)
        if event is not None and reading is not None:
            log.log(logging.WARNING if event == "low_battery" else logging.INFO,
                    "%s: %s at %.1f %%", self.node_id, event, reading.battery_percent or 0)
            self.fire_event("low_battery", event, battery_percent=reading.battery_percent,
                            threshold=self.thresholds.low_battery_percent)
        self._update_power_state()
        return reading

    def _health(self, error: str | None, details: dict[str, Any] | None = None) -> None:
        if error is not None and self.state("backend_problem") is not True:
            log.warning("%s: power backend %s: %s", self.node_id, self.backend.name, error)
        self.set_state("backend_problem", error is not None, {"error": error})
        if details is not None:
            self.set_state("backend", self.backend.name, details)

    def _publish_reading(self, r: PowerReading | None) -> None:
        def rnd(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        r = r or PowerReading()
        self.set_state("battery", rnd(r.battery_percent, 1))
        self.set_state("voltage", rnd(r.voltage_v, 3))
        self.set_state("current", rnd(r.current_a, 3))
        self.set_state("power_draw", rnd(r.power_w, 2))
        self.set_state("charging", r.charging)
        self.set_state("power_source", r.source)
        tte = None if r.time_to_empty_s is None else r.time_to_empty_s / 60.0
        self.set_state("time_to_empty", rnd(tte, 1))

    def _update_power_state(self) -> None:
        r = self.reading
        self.low = is_low(r, self.thresholds, was_low=self.low)
        self.strategy = derive_strategy(r, self.mode, self.thresholds, previous=self.strategy)
        self.set_state("strategy", self.strategy)
        state = PowerState(
            node=self.node_id,
            time=PowerState.now(),
            battery_percent=None if r is None or r.battery_percent is None
            else round(r.battery_percent, 1),
            charging=None if r is None else r.charging,
            source=None if r is None else r.source,
            mode=self.mode,
            strategy=self.strategy,
            low_battery=self.low,
            time_to_empty_s=None if r is None or r.time_to_empty_s is None
            else round(r.time_to_empty_s),
        )
        if state.same_content(self.power_state):
            return
        self.power_state = state
        if self.client is not None:
            self.client.publish(self.layout.power_state(self.node_id), state.to_payload(), 1, True)

    # ---- commands ---------------------------------------------------------------------
    async def _set_mode(self, mode: PowerMode) -> None:
        if mode != self.mode:  # kept before it is confirmed: a restart comes back in it
            try:
                await asyncio.to_thread(save_mode, self.settings_file, mode, self.cfg.mode)
            except OSError as exc:
                raise PowerError(f"cannot keep the power mode in {self.settings_file}: "
                                 f"{exc.strerror or exc}") from exc
        self.mode = mode
        self.set_state("power_mode", mode)
        self._update_power_state()

    async def _set_grid(self, on: bool) -> None:
        grid = self.grid
        if grid is None:
            raise PowerError(f"backend {self.backend.name} cannot switch the grid")
        await grid.set_grid(on)
        self.set_state("grid", on)
        self._wake.set()
