from __future__ import annotations

from typing import Literal

from pydantic import Field

from spark.core.agent.config import NodeConfigBase


class SimulatedNodeConfig(NodeConfigBase):
    kind: Literal["simulated"] = "simulated"
    state_interval: float = Field(5.0, gt=0, description="Seconds between sensor updates.")
    extra_sensors: int = Field(
        0, ge=0, le=100_000, description="Additional numeric sensors (load tests)."
    )
    seed: int | None = Field(None, description="Random seed for repeatable readings.")
