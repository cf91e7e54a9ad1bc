from __future__ import annotations

from pydantic import Field

from hub.config.base import StrictModel


class RecorderConfig(StrictModel):
    enabled: bool = Field(True, description="Record state changes and events.")
    url: str = Field("sqlite:///.spark/history.db", description="SQLAlchemy URL of the store.")
    keep_days: float = Field(10.0, gt=0, description="History older than this is purged.")
