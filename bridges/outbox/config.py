"""The durable, ordered outbox between the hub and each cloud sink (see bridges/outbox/store.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from spark.core.config.base import StrictModel

FsyncPolicy = Literal["always", "batch", "interval", "never"]


class OutboxConfig(StrictModel):
    path: Path = Field(Path(".spark/outbox"), description="Folder of the outbox files.")
    fsync: FsyncPolicy = Field(
        "batch",
        description="When appended records reach the disk. always: every message committed and "
        "fsynced before its ack (slowest). batch: one fsync per committed batch, acks follow it "
        "(nothing acknowledged is lost, even on a power cut). interval: fsync every "
        "fsync_interval seconds (kill -9 loses nothing; a power cut loses up to that much). "
        "never: the OS decides (kill -9 loses nothing; a power cut can lose or corrupt the log).")
    fsync_interval: float = Field(1.0, gt=0, description="Seconds between fsyncs (interval).")
    max_bytes: int = Field(1 << 30, ge=1 << 20, description="Size bound of the backlog.")
    max_age_days: float = Field(
        7.0, gt=0,
        description="Undelivered CRITICAL and NORMAL records older than this are dropped.")
    bulk_max_age_days: float = Field(
        2.0, gt=0, description="Undelivered BULK records (telemetry) older than this are dropped.")
    keep_delivered_hours: float = Field(
        24.0, ge=0, description="Delivered records are kept this long so reconciliation can "
        "re-send a gap; they are the first to go when the outbox is full.")
    check_interval: float = Field(
        10.0, gt=0, description="Seconds between size / age checks and backlog metrics.")

    @model_validator(mode="after")
    def _ages(self) -> OutboxConfig:
        if self.bulk_max_age_days > self.max_age_days:
            raise ValueError("bulk_max_age_days must not exceed max_age_days: telemetry is "
                             "dropped first")
        return self
