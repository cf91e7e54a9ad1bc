"""The ``kafka`` sink's config: the link, the producer, the topic layout and the cloud source.

Example (``bridges.sinks`` in spark.yaml)::

    - type: kafka
      bootstrap_servers: kafka.example.net:9093
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: edge-home
      sasl_password_file: /etc/spark/kafka.password
      source:
        allow_entities: ["switch.*", "light.living_*"]
        allow_services: [turn_on, turn_off, toggle]
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from spark.core.config.base import StrictModel
from spark.core.messages.records import KAFKA_TOPICS
from spark.core.platforms import service_names


def _known_service(name: str) -> str:
    """A service some platform has (``core/platforms/``: a new platform's services count)."""
    known = service_names()
    if name not in known:
        raise ValueError(f"unknown service {name!r}; known: {', '.join(known)}")
    return name


ServiceName = Annotated[str, AfterValidator(_known_service)]
DEFAULT_SERVICES: tuple[str, ...] = ("turn_on", "turn_off", "toggle")

# The seed's partition counts, plus the command results topic.
PARTITIONS: dict[str, int] = {
    "edge.telemetry": 6,
    "edge.sensors": 6,
    "edge.ai.inference": 3,
    "analytics.events": 3,
    "system.health": 1,
    "cloud.commands": 3,
    "models.updates": 1,
    "cloud.command.results": 3,
}


class CloudSourceConfig(StrictModel):
    """``cloud.commands`` -> MQTT commands, ``models.updates`` -> a retained announcement."""

    enabled: bool = Field(True, description="Consume the cloud topics (when the hub runs it).")
    group_id: str = Field("prime-spark-edge", min_length=1,
                          description="Consumer group the offsets are committed under.")
    commands_topic: str = Field("cloud.commands", min_length=1)
    models_topic: str = Field("models.updates", min_length=1)
    results_topic: str = Field("cloud.command.results", min_length=1,
                               description="Where the outcome of every command is reported.")
    allow_entities: list[str] = Field(
        default_factory=list,
        description="Entity ids or globs ('switch.*') the cloud may command; empty: none.")
    allow_services: list[ServiceName] = Field(
        default_factory=lambda: list(DEFAULT_SERVICES),
        description="Services the cloud may call (any platform's: turn_on, turn_off, toggle, "
        "select_option, set_value, press, open_cover, set_cover_position, set_temperature, "
        "set_hvac_mode, set_percentage, ...).")
    start_from: Literal["latest", "earliest"] = Field(
        "latest", description="Where to start when the group has no committed offset yet.")
    max_age: float | None = Field(
        600.0, gt=0, description="Reject commands older than this many seconds (stale after "
        "an outage); null: never.")
    poll_timeout: float = Field(0.5, gt=0, le=10, description="Seconds one consume call waits.")
    fetch_wait_ms: int = Field(100, ge=0, le=10_000, description="fetch.wait.max.ms.")
    report_events: bool = Field(
        True, description="Also report rejected commands as analytics.events records.")

    def allows(self, entity_id: str, service: str) -> bool:
        return service in self.allow_services and any(
            fnmatchcase(entity_id, pattern) for pattern in self.allow_entities)


class KafkaSinkConfig(StrictModel):
    type: Literal["kafka"] = "kafka"
    bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port].")
    client_id: str = Field("prime-spark-edge", description="Kafka client id.")
    # ---- security (the cloud cluster; none for a LAN broker) ------------------------------
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(None, description="Prefer sasl_password_file.")
    sasl_password_file: Path | None = Field(None, description="File holding the SASL password.")
    ssl_ca_location: Path | None = Field(None, description="CA bundle for SSL / SASL_SSL.")
    # ---- producer ----------------------------------------------------------------------
    compression: Literal["lz4", "zstd", "snappy", "gzip", "none"] = Field(
        "lz4", description="compression.type (Tansu and Kafka >= 2.1 take all of them).")
    linger_ms: float = Field(5.0, ge=0, le=1000, description="linger.ms: batching delay.")
    delivery_timeout: float = Field(
        30.0, gt=0, description="Seconds a write waits for the broker before it fails "
        "(message.timeout.ms); the outbox retries the batch later.")
    connect_timeout: float = Field(10.0, gt=0,
                                   description="Seconds admin calls (topic checks) may take.")
    queue_max_messages: int = Field(200_000, ge=1000,
                                    description="queue.buffering.max.messages.")
    batch_rows: int = Field(10_000, ge=1, le=100_000,
                            description="Records per write (the outbox pump's batch size).")
    # ---- reconciliation (counts read back from the topics) --------------------------------
    reconcile_hours: int = Field(
        2, ge=1, le=168,
        description="Hours reconciliation checks on Kafka: the current one and those before "
        "it, at most outbox.keep_delivered_hours. Kafka has no query, so every message of the "
        "window is read back; keep it short, and below the topics' retention.")
    reconcile_max_messages: int = Field(
        2_000_000, ge=1,
        description="Most messages one reconciliation reads back from the topics; beyond that "
        "it is postponed with a log line.")
    reconcile_timeout: float = Field(
        300.0, gt=0, description="Seconds one reconciliation may spend reading the topics.")
    # ---- topics ------------------------------------------------------------------------
    topics: dict[str, str] = Field(
        default_factory=lambda: dict(KAFKA_TOPICS),
        description="Kafka topic per record kind (metric, sensor, inference, event, health); "
        "entries given override the defaults one by one.")
    partitions: dict[str, int] = Field(
        default_factory=lambda: dict(PARTITIONS),
        description="Partition count of each topic created when missing; entries given "
        "override the defaults one by one.")
    replication_factor: int = Field(1, ge=1, description="For topics created when missing.")
    create_topics: bool = Field(True, description="Create missing topics with the admin API.")
    source: CloudSourceConfig = CloudSourceConfig()

    @field_validator("topics", mode="before")
    @classmethod
    def _topics_over_defaults(cls, value: Any) -> Any:
        return {**KAFKA_TOPICS, **value} if isinstance(value, dict) else value

    @field_validator("partitions", mode="before")
    @classmethod
    def _partitions_over_defaults(cls, value: Any) -> Any:
        return {**PARTITIONS, **value} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check(self) -> KafkaSinkConfig:
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ValueError("set either sasl_password or sasl_password_file, not both")
        if self.security_protocol.startswith("SASL") and (
                self.sasl_mechanism is None or self.sasl_username is None):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism "
                             "and sasl_username")
        unknown = sorted(set(self.topics) - set(KAFKA_TOPICS))
        if unknown:
            raise ValueError(f"topics: unknown record kind(s) {', '.join(unknown)}; known: "
                             f"{', '.join(KAFKA_TOPICS)}")
        for topic in self.all_topics():
            if topic not in self.partitions:
                raise ValueError(f"partitions has no entry for topic {topic!r}: add "
                                 f"partitions.{topic}: <count>")
        bad = {t: n for t, n in self.partitions.items() if n < 1}
        if bad:
            raise ValueError(f"partition counts must be >= 1: {bad}")
        return self

    def all_topics(self) -> list[str]:
        """Every topic this edge writes or reads, sink topics first."""
        src = self.source
        names = [*self.topics.values(), src.commands_topic, src.models_topic, src.results_topic]
        return list(dict.fromkeys(names))

    def sasl_secret(self) -> str | None:
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return None
