from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hub.config.base import StrictModel


class OutboxConfig(StrictModel):
    path: Path = Field(Path(".spark/outbox"), description="Folder of the outbox files.")
    fsync: Literal["always", "batch", "interval", "never"] = Field(
        "batch", description="When appended records reach the disk (see bridges/outbox docs).")
    max_bytes: int = Field(1 << 30, ge=1 << 20, description="Size bound of the backlog.")
    max_age_days: float = Field(7.0, gt=0, description="Records older than this are dropped.")
