"""The retained power-state message on ``<base>/<node>/power`` (``TopicLayout.power_state``).

One message per power node, retained, re-published when any field other than ``time`` changes
and on every (re)connect. The hub's router and other nodes read ``strategy``; ``time`` tells how
fresh it is and the node's availability topic tells whether the node is still alive.

Wire form (JSON)::

    {"node": "power", "time": "2025-01-01T12:00:00Z", "battery_percent": 64.0,
     "charging": false, "source": "battery", "mode": "auto", "strategy": "cloud-first",
     "low_battery": false, "time_to_empty_s": 13524.0}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spark.core.errors import PayloadError

PowerSource = Literal["grid", "battery"]
PowerMode = Literal["auto", "on-grid", "off-grid"]
Strategy = Literal["edge-first", "cloud-first", "cloud-only", "edge-only"]

POWER_SOURCES: list[str] = list(get_args(PowerSource))
POWER_MODES: list[str] = list(get_args(PowerMode))
STRATEGIES: list[str] = list(get_args(Strategy))


class PowerState(BaseModel):
    """What a power node tells the rest of the lab. Unknown keys from newer nodes are ignored,
    so an older hub keeps reading a newer node's message (wire messages, unlike config, are
    forward compatible)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    node: str = Field(description="Id of the power node that published this.")
    time: datetime = Field(description="When the underlying reading was taken (UTC).")
    battery_percent: float | None = Field(None, ge=0, le=100, description="State of charge.")
    charging: bool | None = Field(None, description="The battery is being charged.")
    source: PowerSource | None = Field(None, description="What powers the load; None: unknown.")
    mode: PowerMode = Field("auto", description="The power-mode select's value.")
    strategy: Strategy = Field(description="Routing strategy from derive_strategy().")
    low_battery: bool = Field(False, description="Below the low-battery threshold (latched).")
    time_to_empty_s: float | None = Field(None, ge=0, description="Estimated runtime left.")

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_payload(cls, payload: bytes | str) -> PowerState:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"invalid power-state message: {exc}") from exc

    def same_content(self, other: PowerState | None) -> bool:
        """Equal except for ``time`` (decides whether a re-publish is worth it)."""
        return other is not None and self.model_copy(update={"time": other.time}) == other

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)
