"""What the cloud sends the edge over Kafka, and what the edge answers.

``cloud.commands`` (key: any; the entity id keeps one entity's commands in order)::

    {"id": "c-42", "entity_id": "switch.sim1_lamp", "service": "turn_on", "data": {},
     "issued_at": "2026-05-01T12:00:00Z", "expires_at": null}

``cloud.command.results`` (key: the command id)::

    {"id": "c-42", "status": "ok", "entity_id": "switch.sim1_lamp", "service": "turn_on",
     "reason": null, "topic": "spark/sim1/lamp/set", "payload": "ON", "time": "..."}

``models.updates`` -> retained on ``<base>/cloud/models`` for the nodes::

    {"model": "yolov8n", "version": "1.2.0", "url": "https://...", "sha256": "...",
     "nodes": ["vision"], "published_at": "..."}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spark.core.errors import PayloadError

MAX_PAYLOAD = 64 * 1024


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "payload"
    return f"{where}: {err['msg']}"


class CloudCommand(BaseModel):
    """A service call the cloud asks the edge to make."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128, description="Correlation id, unique.")
    entity_id: str = Field(min_length=3, max_length=255, pattern=r"^[a-z_]+\.[a-z0-9_]+$")
    service: str = Field(min_length=1, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_payload(cls, payload: bytes | None) -> CloudCommand:
        if not payload:
            raise PayloadError("empty command")
        if len(payload) > MAX_PAYLOAD:
            raise PayloadError(f"command of {len(payload)} bytes (limit {MAX_PAYLOAD})")
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"bad command: {_first_error(exc)}") from None


def command_id_of(payload: bytes | None) -> str | None:
    """The ``id`` of a command that failed validation, when it has a usable one."""
    try:
        raw = orjson.loads(payload or b"")
    except orjson.JSONDecodeError:
        return None
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


class CommandResult(BaseModel):
    """The outcome of one cloud command, reported on ``cloud.command.results``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str | None = Field(description="The command's id; None when it had no usable one.")
    status: Literal["ok", "rejected", "duplicate"]
    entity_id: str | None = None
    service: str | None = None
    reason: str | None = Field(None, description="Why it was rejected.")
    topic: str | None = Field(None, description="MQTT topic the command was published to.")
    payload: str | None = Field(None, description="MQTT payload published.")
    source: str | None = Field(None, description="topic/partition@offset it came from.")
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_payload(cls, payload: bytes) -> CommandResult:
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"bad command result: {_first_error(exc)}") from None


class ModelUpdate(BaseModel):
    """A new model version for the nodes (unknown fields are ignored: the cloud may add some)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    url: str | None = Field(None, max_length=2048)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(None, ge=0)
    nodes: list[str] = Field(default_factory=list, description="Target node ids; empty: all.")
    published_at: datetime | None = None

    def to_payload(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_payload(cls, payload: bytes | None) -> ModelUpdate:
        if not payload or len(payload) > MAX_PAYLOAD:
            raise PayloadError("empty or oversized model update")
        try:
            return cls.model_validate_json(payload)
        except ValidationError as exc:
            raise PayloadError(f"bad model update: {_first_error(exc)}") from None
