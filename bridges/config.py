"""The ``bridges:`` config section: the outbox and the list of cloud sinks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridges.outbox.config import OutboxConfig
from bridges.sinks.kafka.config import KafkaSinkConfig
from bridges.sinks.timescale.config import TimescaleSinkConfig
from hub.config.base import StrictModel

SinkConfig = Annotated[TimescaleSinkConfig | KafkaSinkConfig, Field(discriminator="type")]


class BridgesConfig(StrictModel):
    outbox: OutboxConfig = OutboxConfig()
    sinks: list[SinkConfig] = Field(
        default_factory=list, description="Cloud sinks fed from the outbox (none: edge only).")
