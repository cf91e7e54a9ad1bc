from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from spark.core.agent.config import NodeConfigBase
from spark.core.config.base import StrictModel


class SimulatedDevicesConfig(StrictModel):
    """The home-lab devices of the simulated node and how fast they move."""

    enabled: bool = Field(True, description="Add a colour light, a cover, a thermostat, a fan "
                          "and a lock beside the basic entities.")
    cover_travel: float = Field(12.0, gt=0, le=600, description="Seconds the cover takes "
                                "from closed to fully open.")
    lock_seconds: float = Field(1.5, ge=0, le=60, description="Seconds the lock's bolt takes "
                                "(it reports locking / unlocking meanwhile).")
    heat_rate: float = Field(0.5, gt=0, le=60, description="Degrees per minute the "
                             "thermostat's room warms or cools while heating or cooling.")
    drift_rate: float = Field(0.05, ge=0, le=60, description="Degrees per minute the room "
                              "drifts toward the outside temperature when idle or off.")
    outside_temperature: float = Field(16.0, ge=-40, le=50, description="Where the room "
                                       "drifts when the thermostat does not heat or cool.")
    tick: float = Field(0.25, gt=0, le=10, description="Seconds between simulation steps "
                        "(cover travel, thermostat).")


class SimulatedNodeConfig(NodeConfigBase):
    kind: Literal["simulated"] = "simulated"
    state_interval: float = Field(5.0, gt=0, description="Seconds between sensor updates.")
    extra_sensors: int = Field(
        0, ge=0, le=100_000, description="Additional numeric sensors (load tests)."
    )
    seed: int | None = Field(None, description="Random seed for repeatable readings.")
    devices: SimulatedDevicesConfig = Field(default_factory=SimulatedDevicesConfig,
                                            description="The home-lab devices.")
    state_file: Path | None = Field(
        None, description="JSON file where the devices keep what real ones keep across a "
        "power cut (light colour, cover position, thermostat mode and target, lock); none: "
        "they start fresh. `spark up`'s default lab uses .spark/simulated/<id>.json."
    )
