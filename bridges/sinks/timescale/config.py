"""TimescaleDB / PostgreSQL sink config.

The retention, compression and rollup settings are baked into the TimescaleDB policies when the
migrations first run (change them later with ``alter_job`` / ``remove_*_policy``); on plain
PostgreSQL the sink's own maintenance job reads them at every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from spark.core.config.base import StrictModel


class TimescaleSinkConfig(StrictModel):
    type: Literal["timescale"] = "timescale"
    url: SecretStr | None = Field(None, description="postgresql://user:pw@host:5432/db")
    url_file: Path | None = Field(None, description="File holding the URL (preferred).")
    batch_rows: int = Field(10_000, ge=1, description="Rows per COPY batch at most.")
    batch_seconds: float = Field(
        1.0, gt=0, description="The pump flushes a partial batch after this many seconds.")
    write_timeout: float = Field(
        60.0, gt=0,
        description="One batch (COPY + merge + commit) must finish within this, else the "
        "connection is dropped and the batch retried (a black-holed VPN must not hang the pump).")
    staging: Literal["on-conflict", "always"] = Field(
        "on-conflict",
        description="on-conflict: COPY straight into the table and use the staging-table merge "
        "only when a key is already there (a replay); always: merge every batch.")
    connect_timeout: int = Field(10, ge=1, le=600, description="Seconds to wait for a connect.")
    timescaledb: Literal["auto", "require", "off"] = Field(
        "auto",
        description="auto: use the timescaledb extension when the server has it; require: fail "
        "if it does not; off: plain PostgreSQL tables and the sink's own rollup job.")
    retention_days: float = Field(30, gt=0, description="Raw rows older than this are dropped.")
    aggregate_retention_days: float = Field(
        365, gt=0, description="hourly_device_metrics rows older than this are dropped.")
    compress_after_days: float = Field(
        7, gt=0, description="TimescaleDB compresses chunks older than this.")
    rollup_lookback_hours: float = Field(
        192, gt=1,
        description="How far back the hourly rollup is refreshed (TimescaleDB: the refresh "
        "policy's start_offset). Keep it above the outbox's max age so late rows still count.")
    maintenance_seconds: float = Field(
        900, ge=0,
        description="Plain PostgreSQL: run the rollup and retention purge this often "
        "(0: never; call refresh_rollup / purge yourself). TimescaleDB: the refresh policy's "
        "schedule_interval.")

    @model_validator(mode="after")
    def _check(self) -> TimescaleSinkConfig:
        if (self.url is None) == (self.url_file is None):
            raise ValueError("set exactly one of url or url_file")
        if self.rollup_lookback_hours / 24 >= self.retention_days:
            raise ValueError(
                "rollup_lookback_hours must stay below retention_days: a refresh over dropped "
                "raw rows would erase their hourly aggregates")
        return self

    def dsn(self) -> str:
        if self.url is not None:
            return self.url.get_secret_value()
        assert self.url_file is not None
        return self.url_file.read_text().strip()
