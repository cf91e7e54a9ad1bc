"""What flows from the edge to the cloud: typed records, one kind per cloud table / topic.

Every record carries an idempotency ``key`` (unique per logical record, stable across replays)
so a sink can drop duplicates after an at-least-once redelivery, and a ``priority`` that decides
what the outbox keeps longest when it is full (lower = more important).

  kind        cloud table              Kafka topic          priority
  health      (analytics_events)       system.health        0  (with commands)
  event       analytics_events         analytics.events     1
  inference   ai_inference_results     edge.ai.inference    1
  sensor      sensor_data              edge.sensors         1
  metric      device_metrics           edge.telemetry       2

``inference`` holds both vision batches and LLM answers (the hub's, one per answer the router
served, cached ones included with ``cached`` true and 0 tokens); LLM rows have ``tier`` set.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from spark.core.errors import PayloadError


class Priority(enum.IntEnum):
    CRITICAL = 0  # commands, health
    NORMAL = 1  # sensors, inference, events
    BULK = 2  # telemetry


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=256, description="Idempotency key.")
    device_id: str = Field(min_length=1, max_length=128)
    time: datetime

    @property
    def priority(self) -> Priority:
        return Priority.NORMAL

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class MetricRecord(_Record):
    """A ``device_metrics`` row: one numeric reading of a device (CPU %, disk %, ...)."""

    kind: Literal["metric"] = "metric"
    metric_name: str = Field(min_length=1, max_length=128)
    value: float

    @property
    def priority(self) -> Priority:
        return Priority.BULK


class SensorRecord(_Record):
    """A ``sensor_data`` row: an entity's state change (numeric ``value`` when it is one)."""

    kind: Literal["sensor"] = "sensor"
    sensor_id: str = Field(min_length=1, max_length=255, description="The hub entity id.")
    value: float | None = None
    state: str | None = Field(None, max_length=255)
    unit: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class InferenceRecord(_Record):
    """An ``ai_inference_results`` row: one inference batch of a model (vision), or one LLM
    answer (``tier`` set; see :class:`core.messages.llm.LlmInferenceMessage`). The LLM fields
    are None on vision rows."""

    kind: Literal["inference"] = "inference"
    model_name: str
    latency_ms: float = Field(ge=0)
    counts: dict[str, int] = Field(default_factory=dict)
    detections: list[dict[str, Any]] = Field(default_factory=list)
    tier: str | None = Field(None, max_length=32, description="LLM: edge, cloud or api.")
    cached: bool | None = Field(None, description="LLM: answered from the response cache.")
    input_tokens: int | None = Field(None, ge=0, description="LLM: engine's prompt tokens.")
    output_tokens: int | None = Field(None, ge=0, description="LLM: engine's output tokens.")
    backend: str | None = Field(None, max_length=128, description="LLM: configured backend.")
    ttft_ms: float | None = Field(None, ge=0, description="LLM: time to first token.")


class EventRecord(_Record):
    """An ``analytics_events`` row: something happened (doorbell, low battery, backup ...)."""

    kind: Literal["event"] = "event"
    event_type: str
    source: str = Field(description="Entity id or component that raised it.")
    data: dict[str, Any] = Field(default_factory=dict)


class HealthRecord(_Record):
    """Node / link health (availability, outbox backlog); ``system.health`` on Kafka."""

    kind: Literal["health"] = "health"
    status: Literal["healthy", "degraded", "unhealthy", "online", "offline"]
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def priority(self) -> Priority:
        return Priority.CRITICAL


Record = Annotated[
    MetricRecord | SensorRecord | InferenceRecord | EventRecord | HealthRecord,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)

KAFKA_TOPICS: dict[str, str] = {
    "metric": "edge.telemetry",
    "sensor": "edge.sensors",
    "inference": "edge.ai.inference",
    "event": "analytics.events",
    "health": "system.health",
}


def record_from_payload(payload: bytes | str) -> Record:
    try:
        return _ADAPTER.validate_json(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise PayloadError(f"bad record: {where}: {err['msg']}") from None
