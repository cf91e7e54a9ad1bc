"""The sink interface: small ABC + a registry keyed by the config's ``type`` literal."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import ClassVar

from spark.core.errors import SparkError
from spark.core.messages.records import Record
from spark.core.registry import TypeRegistry


class SinkError(SparkError):
    """The sink could not take the batch now (link down, server error); retry later."""


class Sink(abc.ABC):
    """Writes batches of records to one external system.

    ``write`` must be idempotent per record ``key`` (a batch may be redelivered after a crash
    or a timeout) and must only return once the batch is durable on the far side; any failure
    raises :class:`SinkError` and the whole batch is retried.
    """

    type: ClassVar[str]

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create what is missing (tables, topics). Raise SinkError if down."""

    @abc.abstractmethod
    async def write(self, batch: Sequence[Record]) -> None:
        """Deliver ``batch`` durably, dropping records whose key was already delivered."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    async def probe(self) -> bool | None:
        """Is the far side reachable now? A cheap check (a bare connect, no setup) that the
        pump runs every ``bridges.probe_seconds`` while it backs off, on a sink that is
        closed; it must not raise. None: this sink cannot tell (the pump waits out its
        backoff)."""
        return None

    async def counts_per_hour(self, since: float, until: float) -> dict[tuple[str, int], int]:
        """``{(kind, hour_epoch): count}`` of delivered records, for reconciliation."""
        raise NotImplementedError(f"{self.type} sink does not support reconciliation")


_SINKS: TypeRegistry[type[Sink]] = TypeRegistry("sink type")
register = _SINKS.register  # class decorator of each sink module


def sink_class(kind: str) -> type[Sink]:
    return _SINKS.get(kind)
