"""The power package's exceptions. Library errors (OSError, smbus2, sockets) are translated here."""

from __future__ import annotations

from spark.core.errors import SparkError


class PowerError(SparkError):
    """Base of every error the power node raises on purpose."""


class BackendUnavailable(PowerError):
    """The backend cannot work on this machine (library missing, no such device or path)."""


class BackendReadError(PowerError):
    """A reading failed (I/O error, protocol error, device answered garbage)."""
