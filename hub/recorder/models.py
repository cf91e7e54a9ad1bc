"""What the history API returns, the recorder's health, and how an entity is described."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from spark.core.errors import SparkError
from spark.core.platforms import platform_for


class RecorderError(SparkError):
    """The history store failed (unreachable, locked, schema error); the message says which.

    ``transient``: worth retrying as is (link down, database locked); otherwise the rows
    themselves were refused and retrying the same batch will not help.
    """

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


def epoch(value: datetime | float | int) -> float:
    """UTC epoch seconds from a datetime (naive ones are taken as UTC) or a number."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def as_number(state: str | None) -> float | None:
    """The state as a finite float, or None when it is not a number."""
    if state is None or not state or len(state) > 64:
        return None
    try:
        value = float(state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class EntityMeta:
    """How to chart an entity: numeric platforms with a unit or state class as lines."""

    entity_id: str
    platform: str
    name: str | None = None
    device_id: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None

    @property
    def numeric(self) -> bool:
        """Its platform's ``numeric``: always (a number) or with a unit or state class (a
        sensor); never an enum, timestamp or date."""
        kind = platform_for(self.platform).numeric
        return (kind == "always" or (kind == "with_unit" and bool(self.unit or self.state_class))
                ) and self.device_class not in ("enum", "timestamp", "date")

    @property
    def chart(self) -> str:
        """``line`` (numeric values over time) or ``timeline`` (state bands)."""
        return "line" if self.numeric else "timeline"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "numeric": self.numeric, "chart": self.chart}


class _Spec(Protocol):  # read-only members: the discovered specs are frozen models
    @property
    def component(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def unit_of_measurement(self) -> str | None: ...
    @property
    def device_class(self) -> str | None: ...
    @property
    def state_class(self) -> str | None: ...


class _Record(Protocol):
    entity_id: str
    device_id: str | None

    @property
    def spec(self) -> _Spec: ...


def describe(record: _Record | None, device_name: str | None = None) -> EntityMeta | None:
    """An :class:`EntityMeta` from a registry record (name falls back to the device's)."""
    if record is None:
        return None
    spec = record.spec
    name = spec.name if spec.name else device_name
    if spec.name and device_name and not spec.name.startswith(device_name):
        name = f"{device_name} {spec.name}"
    return EntityMeta(record.entity_id, spec.component, name, record.device_id,
                      spec.unit_of_measurement, spec.device_class, spec.state_class)


@dataclass(frozen=True, slots=True)
class StatePoint:
    """One recorded state. ``time`` is when it was recorded (UTC epoch seconds)."""

    time: float
    state: str | None
    value: float | None = None  # the state as a number, when it is one
    attributes: dict[str, Any] | None = None
    last_changed: float | None = None

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class BucketPoint:
    """One bucket ``[start, end)``: numeric aggregates (None when no numeric state fell in
    it), the number of states, and the last state in the bucket."""

    start: float
    end: float
    count: int
    state: str | None
    avg: float | None = None
    min: float | None = None
    max: float | None = None
    numeric_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EventRecord:
    time: float
    event_type: str
    entity_id: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    before: float
    states: int
    events: int


@dataclass(slots=True)
class RecorderStats:
    received: int = 0  # hub events taken from the bus
    states_written: int = 0
    events_written: int = 0
    commits: int = 0
    dropped: int = 0  # rows dropped because the in-memory backlog was full
    lost: int = 0  # rows given up: refused by the store after retries, or store down at stop
    failures: int = 0  # failed store operations (each one retried)
    last_error: str | None = None
    last_commit: float | None = None  # epoch of the last successful commit
    last_commit_rows: int = 0
    last_commit_seconds: float = 0.0
    purged_states: int = 0
    purged_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
