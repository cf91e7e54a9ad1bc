"""The simulated node's home-lab devices, behaving as the hardware does: a colour light that
keeps its brightness and colour across off / on, a cover whose motor travels (opening /
closing, stop), a thermostat whose room warms or cools toward the target, a fan, and a lock
whose bolt takes a moment (locking -> locked). What the real device keeps across a power cut
is kept in :class:`DeviceMemory`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from spark.core.agent.device_messages import (
    Action,
    ClimateCommand,
    ClimateState,
    CoverCommand,
    CoverState,
    CoverStateName,
    FanCommand,
    FanState,
    LightCommand,
    LightState,
)
from spark.core.agent.devices import Climate, Cover, Fan, Light, Lock
from spark.core.agent.entities import Entity
from spark.nodes.simulated.config import SimulatedDevicesConfig
from spark.nodes.simulated.memory import DeviceMemory

LIGHT, COVER, THERMOSTAT, FAN, LOCK = "ceiling_light", "blind", "thermostat", "fan", "front_door"
FAN_PRESETS = ["auto", "sleep", "breeze"]
HYSTERESIS = 0.2  # degrees around the target where the thermostat rests


class Agent(Protocol):
    """What the devices use of their node agent."""

    def set_state(self, key: str, value: Any, attributes: dict[str, Any] | None = None,
                  force: bool = False) -> None: ...
    def on_command(self, key: str, handler: Any) -> None: ...


def _num(values: dict[str, Any], key: str, default: float, low: float, high: float) -> float:
    """A remembered number, clamped; the default when missing or not a number."""
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return min(high, max(low, float(value)))


def _choice(values: dict[str, Any], key: str, options: list[str], default: str) -> str:
    value = values.get(key)
    return value if isinstance(value, str) and value in options else default


class HomeLabDevices:
    def __init__(self, agent: Agent, cfg: SimulatedDevicesConfig, memory: DeviceMemory) -> None:
        self.agent, self.cfg, self.memory = agent, cfg, memory
        self.light_entity = Light(key=LIGHT, name="Ceiling light", icon="mdi:ceiling-light")
        self.cover_entity = Cover(key=COVER, name="Blind", device_class="shutter")
        self.climate_entity = Climate(key=THERMOSTAT, name="Thermostat")
        self.fan_entity = Fan(key=FAN, name="Fan", preset_modes=FAN_PRESETS)
        self.lock_entity = Lock(key=LOCK, name="Front door")
        light, ent = memory.get(LIGHT), self.light_entity
        self.light = LightState(
            state="ON" if light.get("on") is True else "OFF",
            brightness=round(_num(light, "brightness", 200, 1, 255)),
            color_mode="rgb" if light.get("color_mode") == "rgb" else "color_temp",
            color_temp=round(_num(light, "color_temp", 370, ent.min_mireds, ent.max_mireds)),
            color=self._remembered_rgb(light.get("color")))
        self.position = _num(memory.get(COVER), "position", 0, 0, 100)
        self.target = self.position
        self.cover_moved = asyncio.Event()
        climate = memory.get(THERMOSTAT)
        c = self.climate_entity
        self.mode = _choice(climate, "mode", c.modes, "off")
        self.setpoint = _num(climate, "temperature", 21.0, c.min_temp, c.max_temp)
        self.room = _num(climate, "current_temperature", 19.0, -40, 60)
        self.action: Action = "off"
        fan = memory.get(FAN)
        self.fan_on = fan.get("on") is True
        self.fan_speed = round(_num(fan, "percentage", 50, 1, 100))
        preset = fan.get("preset_mode")
        self.fan_preset = preset if isinstance(preset, str) and preset in FAN_PRESETS else None
        self.locked = memory.get(LOCK).get("locked", True) is not False
        self.lock_wanted = self.locked
        self.lock_moved = asyncio.Event()

    @staticmethod
    def _remembered_rgb(value: Any) -> tuple[int, int, int]:
        if isinstance(value, list) and len(value) == 3 and all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value):
            return (value[0], value[1], value[2])
        return (255, 180, 90)

    def entities(self) -> list[Entity]:
        return [self.light_entity, self.cover_entity, self.climate_entity, self.fan_entity,
                self.lock_entity]

    def setup(self) -> None:
        agent = self.agent
        agent.on_command(LIGHT, self._light_command)
        agent.on_command(COVER, self._cover_command)
        agent.on_command(THERMOSTAT, self._climate_command)
        agent.on_command(FAN, self._fan_command)
        agent.on_command(LOCK, self._lock_command)
        agent.set_state(LIGHT, self.light)
        self._publish_cover(self._rest_state())
        self._step_climate(0.0)
        self._publish_fan()
        agent.set_state(LOCK, "LOCKED" if self.locked else "UNLOCKED")

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._cover_motor(), name="sim-cover-motor")
            tg.create_task(self._lock_motor(), name="sim-lock-motor")
            tg.create_task(self._thermostat(), name="sim-thermostat")

    def save(self) -> None:
        """Everything the devices keep (also called at shutdown: the room's temperature)."""
        light = self.light
        self.memory.put(LIGHT, {"on": light.state == "ON", "brightness": light.brightness,
                                "color_mode": light.color_mode, "color_temp": light.color_temp,
                                "color": list(light.color)})
        self.memory.put(COVER, {"position": round(self.position, 2)})
        self.memory.put(THERMOSTAT, {"mode": self.mode, "temperature": self.setpoint,
                                     "current_temperature": round(self.room, 2)})
        self.memory.put(FAN, {"on": self.fan_on, "percentage": self.fan_speed,
                              "preset_mode": self.fan_preset})
        self.memory.put(LOCK, {"locked": self.locked})

    # ---- light -----------------------------------------------------------------------------
    def _light_command(self, cmd: LightCommand) -> None:
        changes: dict[str, Any] = {}
        if cmd.brightness is not None:
            if cmd.brightness == 0:
                changes["state"] = "OFF"  # as Zigbee bulbs: brightness 0 is off, kept level
            else:
                changes["brightness"] = cmd.brightness
        if cmd.color_temp is not None:
            changes.update(color_mode="color_temp", color_temp=cmd.color_temp)
        if cmd.color is not None:
            changes.update(color_mode="rgb", color=cmd.color.rgb())
        if cmd.state is not None and "state" not in changes:
            changes["state"] = cmd.state
        self.light = self.light.model_copy(update=changes)
        self.agent.set_state(LIGHT, self.light)
        self.save()

    # ---- cover -----------------------------------------------------------------------------
    def _cover_command(self, cmd: CoverCommand) -> None:
        if cmd.position is not None:
            self.target = float(cmd.position)
        elif cmd.action == "OPEN":
            self.target = 100.0
        elif cmd.action == "CLOSE":
            self.target = 0.0
        else:  # STOP: the motor halts where it is
            self.target = self.position
        self.cover_moved.set()

    def _rest_state(self) -> CoverStateName:
        return "closed" if round(self.position) == 0 else "open"

    def _publish_cover(self, state: CoverStateName) -> None:
        self.agent.set_state(COVER, CoverState(state=state, position=round(self.position)))

    async def _cover_motor(self) -> None:
        step = 100 * self.cfg.tick / self.cfg.cover_travel
        while True:
            await self.cover_moved.wait()
            self.cover_moved.clear()
            while self.position != self.target:
                going: CoverStateName = ("opening" if self.target > self.position
                                         else "closing")
                self._publish_cover(going)
                await asyncio.sleep(self.cfg.tick)
                left = self.target - self.position
                self.position = self.target if abs(left) <= step else (
                    self.position + (step if left > 0 else -step))
                self.memory.put(COVER, {"position": round(self.position, 2)})
            self._publish_cover(self._rest_state())

    # ---- thermostat ------------------------------------------------------------------------
    def _climate_command(self, cmd: ClimateCommand) -> None:
        if cmd.mode is not None:
            self.mode = cmd.mode
        if cmd.temperature is not None:
            self.setpoint = round(cmd.temperature, 1)
        self._step_climate(0.0)
        self.save()

    def _step_climate(self, seconds: float) -> None:
        """Advance the room by ``seconds``: decide the action, then warm, cool or drift."""
        mode, target, room = self.mode, self.setpoint, self.room
        action: Action = "off" if mode == "off" else "idle"
        if mode in ("heat", "auto") and (room < target - HYSTERESIS or (
                self.action == "heating" and room < target)):
            action = "heating"
        elif mode in ("cool", "auto") and (room > target + HYSTERESIS or (
                self.action == "cooling" and room > target)):
            action = "cooling"
        minutes = seconds / 60
        if action == "heating":
            room = min(target, room + self.cfg.heat_rate * minutes)
        elif action == "cooling":
            room = max(target, room - self.cfg.heat_rate * minutes)
        else:
            outside = self.cfg.outside_temperature
            drift = self.cfg.drift_rate * minutes
            room = room + max(-drift, min(drift, outside - room))
        self.room, self.action = room, action
        self.agent.set_state(THERMOSTAT, ClimateState(
            mode=mode, temperature=target, current_temperature=round(room, 1), action=action))

    async def _thermostat(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.tick)
            self._step_climate(self.cfg.tick)

    # ---- fan -------------------------------------------------------------------------------
    def _fan_command(self, cmd: FanCommand) -> None:
        if cmd.state is not None:
            self.fan_on = cmd.state == "ON"
        if cmd.percentage is not None:
            if cmd.percentage == 0:
                self.fan_on = False  # HA: percentage 0 is off; the last speed is kept
            else:
                self.fan_on, self.fan_speed, self.fan_preset = True, cmd.percentage, None
        if cmd.preset_mode is not None:
            self.fan_on, self.fan_preset = True, cmd.preset_mode
        self._publish_fan()
        self.save()

    def _publish_fan(self) -> None:
        self.agent.set_state(FAN, FanState(
            state="ON" if self.fan_on else "OFF",
            percentage=self.fan_speed if self.fan_on else 0,
            preset_mode=self.fan_preset if self.fan_on else None))

    # ---- lock ------------------------------------------------------------------------------
    def _lock_command(self, command: str) -> None:
        self.lock_wanted = command == "LOCK"
        self.lock_moved.set()

    async def _lock_motor(self) -> None:
        while True:
            await self.lock_moved.wait()
            self.lock_moved.clear()
            wanted = self.lock_wanted
            if wanted == self.locked:
                self.agent.set_state(LOCK, "LOCKED" if wanted else "UNLOCKED", force=True)
                continue
            self.agent.set_state(LOCK, "LOCKING" if wanted else "UNLOCKING")
            await asyncio.sleep(self.cfg.lock_seconds)  # the bolt moves
            self.locked = wanted
            self.memory.put(LOCK, {"locked": wanted})
            self.agent.set_state(LOCK, "LOCKED" if wanted else "UNLOCKED")
            if self.lock_wanted != wanted:
                self.lock_moved.set()  # changed its mind while the bolt moved
