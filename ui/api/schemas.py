"""Request and response models of the REST API (they make its OpenAPI spec)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["viewer", "operator", "admin"]
HealthStatus = Literal["healthy", "degraded", "unhealthy"]


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: float = Field(description="Seconds the access token stays valid.")
    username: str
    role: Role
    must_change_password: bool = Field(
        False, description="A generated password: every other call is refused (403) until "
        "POST /api/auth/password sets the user's own.")


class UserOut(BaseModel):
    id: int
    username: str
    role: Role
    active: bool
    created_at: float
    must_change_password: bool = False


class ChangePasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class RegisterRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role = "viewer"


class ApiKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$",
                      description="What the key is for (a script, a device).")
    role: Role = "viewer"


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    role: Role
    created_at: float
    created_by: str
    last_used_at: float | None
    revoked_at: float | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key: shown this once, kept only as a hash.")


class EntityOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entity_id: str
    unique_id: str | None
    platform: str
    name: str | None
    device_id: str | None
    device_name: str | None
    area: str | None
    node: str | None
    state: str | None = Field(description="'unavailable' while the entity is unavailable.")
    raw_state: str | None
    available: bool
    attributes: dict[str, Any]
    last_changed: float
    last_updated: float
    device_class: str | None
    state_class: str | None
    unit_of_measurement: str | None
    entity_category: str | None
    icon: str | None
    options: list[str] | None
    min: float | None
    max: float | None
    step: float | None
    event_types: list[str] | None
    commandable: bool
    has_image: bool


class DeviceOut(BaseModel):
    id: str
    name: str | None
    manufacturer: str | None
    model: str | None
    sw_version: str | None
    area: str | None
    via_device: str | None
    entities: list[str]


class HistoryPoint(BaseModel):
    time: float
    state: str | None
    value: float | None = None


class BucketOut(BaseModel):
    start: float
    end: float
    count: int
    state: str | None
    avg: float | None = None
    min: float | None = None
    max: float | None = None


class HistoryOut(BaseModel):
    entity_id: str
    start: float
    end: float
    points: list[HistoryPoint] = Field(default_factory=list)
    buckets: list[BucketOut] = Field(default_factory=list)


class ServiceRequest(BaseModel):
    entity_id: str
    data: dict[str, Any] = Field(default_factory=dict, description=(
        "The service's data (HA's service data): option / value / brightness, by service. "
        "`code` for a lock with a code_format (lock / unlock / open) or an alarm panel with a "
        "code (alarm_arm_* / alarm_disarm / alarm_trigger): a wrong or missing code is a 400 "
        "naming the problem, nothing is published, and the code is never echoed (the "
        "result's payload is hidden)."))
    wait: bool = Field(True, description="Return once the device confirms the new state.")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds to wait for the confirmation.")


class ServiceResult(BaseModel):
    entity_id: str
    service: str
    topic: str
    payload: str
    state: str | None


class ComponentOut(BaseModel):
    name: str
    kind: Literal["broker", "hub", "node", "bridge", "history", "component"]
    status: HealthStatus
    detail: str
    data: dict[str, Any]


class HealthOut(BaseModel):
    status: HealthStatus
    time: float
    components: list[ComponentOut]


class Liveness(BaseModel):
    status: Literal["ok", "unhealthy"] = "ok"
    time: float
    failed: list[str] = []  # components that died and wait for their restart
