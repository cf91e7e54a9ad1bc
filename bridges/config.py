"""The ``bridges:`` config section (the outbox and the list of cloud sinks), and
:class:`BridgeSettings`: what the bridge process reads from the whole config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator

from spark.bridges.ingest.config import IngestConfig
from spark.bridges.outbox.config import OutboxConfig
from spark.bridges.sinks.kafka.config import KafkaSinkConfig
from spark.bridges.sinks.timescale.config import TimescaleSinkConfig
from spark.core.agent.settings import AgentSettings
from spark.core.config.base import StrictModel
from spark.core.config.mqtt import MqttConfig
from spark.core.topics import SEGMENT_RE

SinkConfig = Annotated[TimescaleSinkConfig | KafkaSinkConfig, Field(discriminator="type")]


class BridgesConfig(StrictModel):
    outbox: OutboxConfig = OutboxConfig()
    ingest: IngestConfig = IngestConfig()
    sinks: list[SinkConfig] = Field(
        default_factory=list, description="Cloud sinks fed from the outbox (none: edge only).")
    node_id: str = Field("bridge", description="Node id of the bridge's status entities.")
    status_interval: float = Field(10.0, gt=0, description="Seconds between status updates.")
    reconcile_minutes: float = Field(
        15.0, gt=0, description="Minutes between reconciliations of each sink with the outbox.")
    backoff_max: float = Field(30.0, gt=0, description="Longest retry delay of a sink, seconds.")
    probe_seconds: float = Field(
        1.0, gt=0, description="While a sink is down, check its link this often (a bare "
        "connect): once it was seen down, the first check that finds it up ends the backoff.")
    pump_process: bool = Field(
        True, description="`spark bridge run` (and `spark up`): drain the sinks in a "
        "supervised child process, so ingest and delivery use two cores and a sink library "
        "crash cannot stop the ingest. False: one process.")
    linger_ms: float = Field(
        50.0, ge=0, description="A pump waits this long for a partial batch to fill (at most "
        "the sink's batch_seconds): fewer, larger writes.")

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, v: str) -> str:
        if not SEGMENT_RE.match(v):
            raise ValueError("use only letters, digits, '_' and '-'")
        return v

    def sink_names(self) -> list[str]:
        """One outbox cursor per sink: its type, numbered when a type repeats."""
        names: list[str] = []
        for sink in self.sinks:
            n = sum(1 for s in names if s == sink.type or s.startswith(sink.type + "-"))
            names.append(sink.type if n == 0 else f"{sink.type}-{n + 1}")
        return names


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """What the bridge process reads besides its ``bridges:`` section: the settings every agent
    takes (the broker connection, the hub's id: the ingest's default client id, the status
    node's context) and the log level (of the pump child process, which gets a copy). Built by
    app: ``SparkConfig.bridge_settings()``."""

    agent: AgentSettings
    bridges: BridgesConfig
    log_level: str = "INFO"

    @property
    def mqtt(self) -> MqttConfig:
        return self.agent.mqtt

    @property
    def hub_id(self) -> str:
        return self.agent.hub_id
