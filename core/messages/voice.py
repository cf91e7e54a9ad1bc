"""Pipeline events on ``<base>/<node>/pipeline`` (``TopicLayout.pipeline``), not retained.

In the spirit of Home Assistant's Assist pipeline events: one ``run`` per wake (or typed line),
events in order ``wake`` -> ``speech-start`` -> ``speech-end`` -> ``transcript`` -> ``intent`` ->
``handled`` (or ``error``), each with the run id, the time, a ``data`` dict and the per-stage
timings in milliseconds measured so far. Wire form (JSON)::

    {"run": "3f2a...", "type": "intent", "time": "2025-01-01T12:00:00.123Z", "node": "voice",
     "data": {"intent": "turn_on", "entity_id": "switch.sim1_lamp"},
     "timings": {"stt_ms": 31.0, "intent_ms": 0.2}}
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spark.core.errors import PayloadError

EventType = Literal["wake", "speech-start", "speech-end", "transcript", "intent", "handled",
                    "error", "timeout"]


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class PipelineEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str = Field(description="Id shared by every event of one pipeline run.")
    type: EventType
    node: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict, description="Stage durations, ms.")

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_payload(cls, payload: bytes | str) -> PipelineEvent:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"invalid pipeline event: {exc}") from exc
