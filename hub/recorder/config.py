"""Local history: every state change and event into SQLite (WAL) or PostgreSQL."""
from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from spark.core.config.base import StrictModel

_SCHEMES = ("sqlite", "postgresql")


class RecorderConfig(StrictModel):
    enabled: bool = Field(True, description="Record state changes and events.")
    url: str = Field(
        "sqlite:///.spark/history.db",
        description="SQLAlchemy URL of the store: sqlite:///path (WAL mode; the folder is "
        "created) or postgresql://user@host:port/db (driven by psycopg 3).",
    )
    keep_days: float = Field(10.0, gt=0, description="History older than this is purged.")
    purge_interval: float = Field(
        3600.0, gt=0, description="Seconds between retention purges (one also runs at start)."
    )
    commit_interval: float = Field(
        1.0, gt=0, le=60, description="Longest a recorded row waits before its batch commits."
    )
    max_batch: int = Field(
        1000, ge=1, le=100_000, description="Rows per transaction; a full batch commits at once."
    )
    max_backlog: int = Field(
        200_000,
        ge=1000,
        description="Rows kept in memory while the store is down or behind; past it the oldest "
        "are dropped (counted and logged).",
    )
    retry_min: float = Field(0.5, gt=0, description="First retry delay after a store failure.")
    retry_max: float = Field(30.0, gt=0, description="Longest retry delay after store failures.")
    connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for the store (SQLite busy timeout, PG connect)."
    )
    exclude: list[str] = Field(
        default_factory=list,
        description="Entity ids not recorded; shell-style patterns (e.g. 'sensor.hub_*').",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        scheme = v.split(":", 1)[0].split("+", 1)[0]
        if "://" not in v or scheme not in _SCHEMES:
            raise ValueError(
                f"recorder.url {v!r}: use sqlite:///path/to/history.db or "
                "postgresql://user@host:5432/dbname"
            )
        return v

    @model_validator(mode="after")
    def _retry(self) -> RecorderConfig:
        if self.retry_max < self.retry_min:
            raise ValueError("recorder.retry_max must be >= recorder.retry_min")
        return self
