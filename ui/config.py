"""The ``ui:`` config section: where the panel and REST API listen, and their auth."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from spark.core.config.base import StrictModel
from spark.ui.api.config import AuthConfig


class UiConfig(StrictModel):
    enabled: bool = Field(True, description="Serve the panel and REST API from the hub process.")
    host: str = Field("0.0.0.0", description="Address to listen on (0.0.0.0: every interface).")
    port: int = Field(8000, ge=1, le=65535, description="HTTP port of the panel and the API.")
    data_dir: Path = Field(Path(".spark/ui"),
                           description="Generated secrets and panel sessions (mode 0700).")
    control_timeout: float = Field(
        5.0, gt=0, le=120, description="Seconds a control waits for the device to confirm.")
    recent_events: int = Field(50, ge=1, le=10_000, description="Events kept for the dashboard.")
    page_size: int = Field(60, ge=10, le=1000, description="Entities per page of the list.")
    auth: AuthConfig = AuthConfig()
