"""Power backends: the registry keyed by each config's ``type`` literal.

Adding a backend: write ``backends/<name>.py`` with a :class:`PowerBackend` subclass and its
config model (``type: Literal["<name>"]``), then add both below. Hardware libraries (``smbus2``)
are imported when a backend opens, never here, so every backend's config always validates.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.power.backends.base import Clock, GridControl, PowerBackend, PowerReading
from spark.nodes.power.backends.ina import Ina219BackendConfig, Ina226BackendConfig, InaBackend
from spark.nodes.power.backends.nut import NutBackend, NutBackendConfig
from spark.nodes.power.backends.simulated import SimulatedBackend, SimulatedBackendConfig
from spark.nodes.power.backends.sysfs import SysfsBackend, SysfsBackendConfig

PowerBackendConfig = Annotated[
    SysfsBackendConfig
    | Ina219BackendConfig
    | Ina226BackendConfig
    | NutBackendConfig
    | SimulatedBackendConfig,
    Field(discriminator="type"),
]

BACKENDS: TypeRegistry[type[PowerBackend]] = TypeRegistry("power backend", {
    "sysfs": SysfsBackend,
    "ina219": InaBackend,
    "ina226": InaBackend,
    "nut": NutBackend,
    "simulated": SimulatedBackend,
})


def make_backend(config: PowerBackendConfig, *, clock: Clock | None = None) -> PowerBackend:
    """The backend for ``config`` (its ``type`` picks the class)."""
    return BACKENDS.get(config.type)(config, clock=clock)


__all__ = [
    "BACKENDS",
    "Clock",
    "GridControl",
    "PowerBackend",
    "PowerBackendConfig",
    "PowerReading",
    "make_backend",
]
