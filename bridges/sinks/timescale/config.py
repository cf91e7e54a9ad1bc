from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from hub.config.base import StrictModel


class TimescaleSinkConfig(StrictModel):
    type: Literal["timescale"] = "timescale"
    url: SecretStr | None = Field(None, description="postgresql://user:pw@host:5432/db")
    url_file: Path | None = Field(None, description="File holding the URL (preferred).")
    batch_rows: int = Field(10_000, ge=1, description="Rows per COPY batch at most.")
    batch_seconds: float = Field(1.0, gt=0, description="Flush a partial batch after this.")
