"""The power node's config section (``nodes: [{kind: power, ...}]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from spark.core.agent.config import NodeConfigBase
from spark.nodes.power.backends import PowerBackendConfig
from spark.nodes.power.backends.simulated import SimulatedBackendConfig
from spark.nodes.power.messages import PowerMode
from spark.nodes.power.strategy import Thresholds


class PowerNodeConfig(NodeConfigBase):
    kind: Literal["power"] = "power"
    state_interval: float = Field(10.0, gt=0, description="Seconds between readings.")
    backend: PowerBackendConfig = Field(
        default_factory=lambda: SimulatedBackendConfig(),
        description="Where readings come from: sysfs, ina219, ina226, nut or simulated "
        "(the default, for machines without the hardware).",
    )
    mode: PowerMode = Field(
        "auto", description="Power mode at first start: auto follows the reading; on-grid / "
        "off-grid force the routing strategy. A mode chosen at run time (the select entity) is "
        "kept in data_dir and restored on restart, until this value is changed."
    )
    data_dir: Path = Field(
        Path(".spark/nodes"), description="Where the node keeps its settings "
        "(<data_dir>/<id>.json: the power mode chosen at run time)."
    )
    low_battery_threshold: float = Field(
        20.0, gt=0, lt=100, description="Battery percent at or below which the node is 'low'."
    )
    low_battery_hysteresis: float = Field(
        5.0, ge=0, description="Percent above the threshold needed to leave the low state."
    )
    read_timeout: float = Field(5.0, gt=0, description="Seconds a backend read may take.")

    @model_validator(mode="after")
    def _check(self) -> PowerNodeConfig:
        if self.low_battery_threshold + self.low_battery_hysteresis >= 100:
            raise ValueError(
                "low_battery_threshold + low_battery_hysteresis must stay below 100 "
                "(otherwise the low-battery state can never clear)"
            )
        return self

    def thresholds(self) -> Thresholds:
        return Thresholds(self.low_battery_threshold, self.low_battery_hysteresis)
