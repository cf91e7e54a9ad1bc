"""The NAS backend interface: a small ABC and a registry keyed by the config's ``type``.

A backend reports mount status and SMART reports; everything else (entities, assessment,
exports, backups) lives in the agent. Backends: ``local`` (psutil/statvfs, /proc/mounts,
smartctl) and ``simulated`` (four disks, one of which can be made to fail).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from spark.core.errors import SparkError
from spark.core.registry import TypeRegistry
from spark.nodes.nas.smart import SmartReport


class NasBackendError(SparkError):
    """A NAS backend is unknown or cannot be used."""


@dataclass(frozen=True, slots=True)
class MountStatus:
    mountpoint: str
    mounted: bool
    read_only: bool | None = None
    total: int | None = None  # bytes
    used: int | None = None
    free: int | None = None  # available to unprivileged users, as df shows
    device: str | None = None
    fstype: str | None = None

    @property
    def used_percent(self) -> float | None:
        if self.used is None or self.free is None or self.used + self.free == 0:
            return None
        return round(100.0 * self.used / (self.used + self.free), 2)


class NasBackend(ABC):
    type: ClassVar[str]

    def __init__(self, config: Any) -> None:
        self.config = config

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare (check tools); runs once before the first read."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    @property
    def smart_available(self) -> bool:
        """False when SMART cannot be read at all here (no smartctl): no disk entities."""
        return True

    @abstractmethod
    async def mounts(self, mountpoints: list[str]) -> list[MountStatus]:
        """Status of each configured mount point, in order."""

    @abstractmethod
    async def smart(self, device: str) -> SmartReport:
        """The disk's SMART report; raises :class:`~nodes.nas.smart.SmartError`."""


BACKENDS: TypeRegistry[type[NasBackend]] = TypeRegistry("NAS backend type",
                                                        error=NasBackendError)
register = BACKENDS.register  # class decorator of each backend module


def make_backend(config: Any) -> NasBackend:
    return BACKENDS.get(str(getattr(config, "type", None)))(config)
