"""The power backend interface: one reading type, one small ABC, optional grid control.

A backend reads the battery / UPS / grid situation and returns a :class:`PowerReading`. Each
backend module holds its class and its config model (``type`` literal); the registry in
``backends/__init__.py`` maps the ``type`` to the class.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from spark.nodes.power.messages import PowerSource

Clock = Callable[[], float]  # monotonic seconds


class BackendConfig(BaseModel):
    """Base of every backend's config: strict and immutable like ``core.config.base.StrictModel``
    (same settings), declared here so that importing a backend, the strategy or the messages
    does not pull in the hub's config package (which imports every node kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


@dataclass(frozen=True, slots=True)
class PowerReading:
    """One reading. ``None`` means the backend cannot tell.

    * ``current_a``: battery current, positive while charging, negative while discharging.
    * ``power_w``: power through the measuring point, non-negative: the battery for sysfs / INA /
      simulated, the UPS output (the load) for NUT.
    * ``time_to_empty_s``: estimated runtime at the present load (None while charging when the
      backend cannot estimate it; a UPS estimates it on line too).
    * ``low_battery``: the hardware's own low-battery flag (NUT ``LB``, sysfs ``capacity_level``
      ``Critical``), independent of the node's configured threshold.
    * ``details``: backend-specific extras for the diagnostic entity's attributes.
    """

    battery_percent: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    power_w: float | None = None
    charging: bool | None = None
    source: PowerSource | None = None
    time_to_empty_s: float | None = None
    low_battery: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def on_grid(self) -> bool | None:
        return None if self.source is None else self.source == "grid"


class PowerBackend(ABC):
    """A source of :class:`PowerReading`. ``open`` before the first read, ``close`` at the end;
    both idempotent. ``read`` raises :class:`~nodes.power.errors.PowerError` subclasses only."""

    type: ClassVar[str]

    def __init__(self, config: Any, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock: Clock = clock or time.monotonic

    @property
    def name(self) -> str:
        """Short description for the diagnostic entity, e.g. ``sysfs BAT0``."""
        return self.type

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire the device or connection (raise BackendUnavailable when impossible)."""

    @abstractmethod
    async def read(self) -> PowerReading:
        """Take one reading."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` acquired."""


class GridControl(ABC):
    """Implemented only by backends that can switch the grid (the simulated one)."""

    @property
    @abstractmethod
    def grid_on(self) -> bool: ...

    @abstractmethod
    async def cut_grid(self) -> None: ...

    @abstractmethod
    async def restore_grid(self) -> None: ...

    async def set_grid(self, on: bool) -> None:
        await (self.restore_grid() if on else self.cut_grid())
