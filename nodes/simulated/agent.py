"""Simulated node: a lamp, a thermostat-like sensor and one entity of every platform, plus the
devices a home lab has (a colour light, a cover, a thermostat, a fan, a lock: devices.py).

It is labelled as simulated in its device model, so nobody mistakes its readings for real ones.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar

from spark.core.agent.agent import NodeAgent, NodeContext
from spark.core.agent.entities import (
    BinarySensor,
    Button,
    Entity,
    Event,
    Image,
    Number,
    Select,
    Sensor,
    Switch,
)
from spark.nodes.simulated.config import SimulatedNodeConfig
from spark.nodes.simulated.devices import HomeLabDevices
from spark.nodes.simulated.memory import DeviceMemory
from spark.nodes.simulated.scene import room

MODES = ["eco", "comfort", "away"]


class SimulatedNode(NodeAgent[SimulatedNodeConfig]):
    kind: ClassVar[str] = "simulated"
    model: ClassVar[str] = "Simulated node"

    def __init__(self, ctx: NodeContext[SimulatedNodeConfig]) -> None:
        super().__init__(ctx)
        self.rng = random.Random(self.cfg.seed)
        self.temperature = 21.0
        self.devices = (HomeLabDevices(self, self.cfg.devices, DeviceMemory(self.cfg.state_file))
                        if self.cfg.devices.enabled else None)

    def declare_entities(self) -> list[Entity]:
        entities: list[Entity] = [
            Switch(key="lamp", name="Lamp", icon="mdi:lightbulb"),
            Sensor(key="temperature", name="Temperature", device_class="temperature",
                   unit="°C", state_class="measurement", suggested_display_precision=1),
            BinarySensor(key="motion", name="Motion", device_class="motion"),
            Select(key="mode", name="Mode", options=MODES, entity_category="config"),
            Number(key="setpoint", name="Setpoint", min=5, max=30, step=0.5, unit="°C",
                   device_class="temperature", mode="box"),
            Button(key="identify", name="Identify", device_class="identify",
                   entity_category="config"),
            Event(key="doorbell", name="Doorbell", device_class="doorbell",
                  event_types=["press", "double_press"]),
            Image(key="snapshot", name="Snapshot", content_type="image/png"),
        ]
        entities += [
            Sensor(key=f"load_{i}", name=f"Load {i}", unit="W", device_class="power",
                   state_class="measurement")
            for i in range(self.cfg.extra_sensors)
        ]
        if self.devices is not None:
            entities += self.devices.entities()
        return entities

    async def setup(self) -> None:
        self.on_command("lamp", self._set_lamp)
        self.on_command("mode", lambda v: self.set_state("mode", v))
        self.on_command("setpoint", lambda v: self.set_state("setpoint", v))
        self.on_command("identify", self._identify)
        self.set_state("lamp", False)
        self.set_state("temperature", self.temperature)
        self.set_state("motion", False)
        self.set_state("mode", "comfort")
        self.set_state("setpoint", 21.0)
        self.set_state("snapshot", room(lamp_on=False))
        for i in range(self.cfg.extra_sensors):
            self.set_state(f"load_{i}", 0.0)
        if self.devices is not None:
            self.devices.setup()

    async def teardown(self) -> None:
        if self.devices is not None:
            self.devices.save()

    def _set_lamp(self, on: bool) -> None:
        self.set_state("lamp", on)
        self.set_state("snapshot", room(lamp_on=on))

    def _identify(self, _value: Any) -> None:
        self.fire_event("doorbell", "press", source="identify")

    async def work(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._sensors(), name=f"{self.node_id}-sensors")
            if self.devices is not None:
                tg.create_task(self.devices.run(), name=f"{self.node_id}-devices")

    async def _sensors(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.state_interval)
            setpoint = float(self.state("setpoint") or 21.0)
            self.temperature += (setpoint - self.temperature) * 0.1 + self.rng.gauss(0, 0.05)
            self.set_state("temperature", round(self.temperature, 2))
            self.set_state("motion", self.rng.random() < 0.2)
