"""The inference message on ``<base>/<node>/inference`` (``TopicLayout.inference``): one per
inference batch (one frame of one camera), shaped like the cloud's ``ai_inference_results`` row
(:class:`core.messages.records.InferenceRecord`).

Wire form (JSON, not retained)::

    {"id": "vision-demo-1718000000-42", "time": "2025-01-01T12:00:00.123456Z",
     "camera": "demo", "model_name": "opencv-hog+frontalface_default",
     "model": "opencv-hog+frontalface_default", "latency_ms": 21.4,
     "counts": {"person": 1},
     "detections": [{"label": "person", "score": 0.94, "box": [180, 40, 420, 479],
                     "zones": ["porch"]}]}

``id`` is unique per batch and stable across redeliveries (the bridge's idempotency key is
``inference:<node>:<id>``); ``model`` repeats ``model_name`` for the bridge's mapper
(bridges/ingest/mapper.py reads ``model``). ``box`` is ``[x_min, y_min, x_max, y_max]`` in the
source frame's pixels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spark.core.errors import PayloadError
from spark.core.messages.detection import Detection
from spark.core.messages.records import InferenceRecord


class InferenceMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=200, description="Unique per batch.")
    time: datetime = Field(description="When the frame was captured (UTC).")
    camera: str
    model_name: str
    latency_ms: float = Field(ge=0)
    counts: dict[str, int] = Field(default_factory=dict)
    detections: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _model_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model_name" not in data and "model" in data:
            data = {**data, "model_name": data["model"]}
        return data

    def to_payload(self) -> bytes:
        body = self.model_dump(mode="json")
        body["model"] = self.model_name
        return orjson.dumps(body)

    @classmethod
    def from_payload(cls, payload: bytes | str) -> InferenceMessage:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"invalid inference message: {exc}") from exc

    def to_record(self, node_id: str) -> InferenceRecord:
        """The ``ai_inference_results`` row this message becomes in the cloud."""
        return InferenceRecord(key=f"inference:{node_id}:{self.id}", device_id=node_id,
                               time=self.time, model_name=self.model_name,
                               latency_ms=self.latency_ms, counts=self.counts,
                               detections=self.detections)

    @classmethod
    def of(cls, ident: str, captured: float, camera: str, model_name: str, latency_ms: float,
           found: Sequence[Detection], zones_of: Sequence[list[str]]) -> InferenceMessage:
        """The message for one inference: ``captured`` is the frame's epoch time, ``zones_of``
        the zones each detection stands in."""
        return cls(id=ident, time=cls.from_epoch(captured), camera=camera,
                   model_name=model_name, latency_ms=round(latency_ms, 3),
                   counts=dict(Counter(d.label for d in found)),
                   detections=[{**d.as_dict(), "zones": list(z)}
                               for d, z in zip(found, zones_of, strict=True)])

    @staticmethod
    def from_epoch(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)
