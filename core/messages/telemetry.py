"""The compact per-interval telemetry message nodes publish for the cloud bridges.

A node publishes one :class:`TelemetryMessage` per interval on ``layout.telemetry(node_id)``
(QoS 0, not retained: a stale reading replayed later would be wrong). The cloud side stores it
as ``device_metrics`` rows ``(time, device_id, metric_name, value)``.

Wire form (all rows of a message share one timestamp; rows are grouped by device)::

    {"v": 1, "node": "pi5", "time": "2025-06-01T12:00:00.123456+00:00",
     "metrics": {"pi5": {"cpu_percent": 3.5, "load_1": 0.12}, "pi5_sda": {"temperature": 34}}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from spark.core.errors import PayloadError
from spark.core.topics import SEGMENT_RE

WIRE_VERSION = 1
MAX_ROWS = 10_000


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must be timezone-aware")
    return value.astimezone(UTC)


def _name(value: str, what: str) -> str:
    if not isinstance(value, str) or not SEGMENT_RE.match(value) or len(value) > 128:
        raise ValueError(f"{what} {value!r}: use 1-128 letters, digits, '_' or '-'")
    return value


class DeviceMetric(BaseModel):
    """One ``device_metrics`` row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: datetime = Field(description="When the reading was taken (timezone-aware, UTC).")
    device_id: str = Field(description="The measured device: a node id, or node id + part.")
    metric_name: str = Field(description="What was measured, e.g. cpu_percent.")
    value: float = Field(description="The reading; finite.")

    @field_validator("device_id", "metric_name")
    @classmethod
    def _segment(cls, v: str, info: Any) -> str:
        return _name(v, info.field_name)

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("value must be finite")
        return v

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return _utc(v)


class TelemetryMessage(BaseModel):
    """A batch of rows from one node taken at one time; owns its wire form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str
    time: datetime
    device_metrics: list[DeviceMetric] = Field(default_factory=list, max_length=MAX_ROWS)

    @field_validator("node_id")
    @classmethod
    def _node(cls, v: str) -> str:
        return _name(v, "node_id")

    @field_validator("time")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return _utc(v)

    @classmethod
    def from_readings(
        cls,
        node_id: str,
        readings: Mapping[str, Any],
        *,
        device_id: str | None = None,
        time: datetime | None = None,
    ) -> TelemetryMessage:
        """Build a message from ``{metric_name: value}``: None, non-numeric and non-finite
        values are skipped, bools become 0/1."""
        when = (time or datetime.now(UTC)).astimezone(UTC)
        dev = device_id or node_id
        rows = [
            DeviceMetric(time=when, device_id=dev, metric_name=name, value=v)
            for name, raw in readings.items()
            if (v := _number(raw)) is not None
        ]
        return cls(node_id=node_id, time=when, device_metrics=rows)

    def by_device(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for row in self.device_metrics:
            out.setdefault(row.device_id, {})[row.metric_name] = row.value
        return out

    def to_payload(self) -> bytes:
        return orjson.dumps({
            "v": WIRE_VERSION,
            "node": self.node_id,
            "time": self.time.isoformat(),
            "metrics": self.by_device(),
        })

    @classmethod
    def from_payload(cls, payload: bytes | str) -> TelemetryMessage:
        """Parse the wire form; anything malformed raises :class:`PayloadError`."""
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(f"telemetry is not JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("v") != WIRE_VERSION:
            raise PayloadError(f"telemetry needs an object with v={WIRE_VERSION}")
        metrics = body.get("metrics")
        if not isinstance(metrics, dict) or not all(
            isinstance(m, dict) and all(_is_number(v) for v in m.values())
            for m in metrics.values()
        ):
            raise PayloadError("telemetry 'metrics' must map device ids to {metric: number}")
        try:
            when = datetime.fromisoformat(str(body.get("time")))
            rows = [
                DeviceMetric(time=when, device_id=dev, metric_name=name, value=value)
                for dev, values in metrics.items()
                for name, value in values.items()
            ]
            return cls(node_id=body.get("node"), time=when, device_metrics=rows)
        except (ValueError, ValidationError) as exc:
            raise PayloadError(f"bad telemetry: {_first_error(exc)}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        value = float(raw)
        return value if math.isfinite(value) else None
    return None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)

