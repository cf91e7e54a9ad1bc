"""Top-level config schema. Defaults live only here; node kinds bring their own sections."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from spark.bridges.config import BridgesConfig
from spark.core.agent.settings import AgentSettings
from spark.core.config.base import StrictModel
from spark.core.config.mqtt import MqttConfig, _segment
from spark.hub.recorder.config import RecorderConfig
from spark.nodes.kinds import NodeConfig
from spark.ui.config import UiConfig


class HubConfig(StrictModel):
    id: str = Field("hub", description="The hub's node id in topics.")
    name: str = Field("Prime Spark Hub", description="Device name shown in Home Assistant.")
    discovery_mode: Literal["entity", "device"] = Field(
        "entity",
        description="Per-entity discovery topics (every HA version) or one device-based "
        "config per node (HA >= 2024.11).",
    )
    request_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a node's answer.")
    # Discovery is untrusted: these bound the registry's memory (~6 KB per entity: 20,000 is
    # ~120 MB on a Pi) while leaving 10x room over a big home (a 200-device Zigbee mesh has
    # ~2,000 entities). A publisher is a config's discovery node id (else device, else origin).
    max_entities: int = Field(
        20_000, ge=1, le=1_000_000,
        description="Entities the hub registers in total; further discovery configs are "
        "refused (one log line, the hub's 'Entities refused' sensor).",
    )
    max_entities_per_publisher: int = Field(
        2_000, ge=1, le=1_000_000,
        description="Entities one publisher (discovery node id, else device, else origin) may "
        "register; a Zigbee2MQTT or ESPHome device has tens.",
    )

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _segment(v)

    @model_validator(mode="after")
    def _limits(self) -> HubConfig:
        if self.max_entities_per_publisher > self.max_entities:
            raise ValueError(
                f"hub.max_entities_per_publisher ({self.max_entities_per_publisher}) is larger "
                f"than hub.max_entities ({self.max_entities}): lower it or raise max_entities"
            )
        return self


class BrokerUser(StrictModel):
    username: str
    password: SecretStr | None = None
    password_file: Path | None = None
    read: list[str] = Field(default_factory=list, description="Topic filters it may read.")
    write: list[str] = Field(default_factory=list, description="Topic filters it may publish to.")
    readwrite: list[str] = Field(
        default_factory=list, description="Topic filters it may both read and publish to."
    )


class BridgeConfig(StrictModel):
    """Optional bridge from the local Mosquitto to a cloud broker."""

    enabled: bool = False
    name: str = "cloud"
    address: str = Field("cloud.example.net:8883", description="host:port of the cloud broker.")
    remote_username: str | None = None
    remote_password: SecretStr | None = None
    remote_password_file: Path | None = None
    ca_file: Path | None = None
    topics_out: list[str] = Field(
        default_factory=lambda: ["+/telemetry", "+/availability"],
        description="Patterns under the base topic sent to the cloud.",
    )
    topics_in: list[str] = Field(
        default_factory=lambda: ["+/+/set"], description="Patterns under the base topic accepted."
    )
    remote_prefix: str = Field(
        "", description="Prefix added on the cloud side, e.g. 'site1/' (empty: same topics)."
    )
    qos: int = Field(1, ge=0, le=2, description="QoS of bridged subscriptions.")


class BrokerConfig(StrictModel):
    mode: Literal["auto", "external", "mosquitto", "embedded"] = Field(
        "auto",
        description="auto: use a broker already answering at mqtt.host:port, else start "
        "Mosquitto, else the embedded Python broker.",
    )
    data_dir: Path = Field(Path(".spark/broker"), description="Generated broker files.")
    listen_host: str = Field("127.0.0.1", description="Address the started broker listens on.")
    auth: bool = Field(True, description="Password auth + per-node ACLs on the started broker.")
    homeassistant_user: str = Field("homeassistant", description="Read-mostly account for HA.")
    max_queued_messages: int = Field(
        1_000_000, ge=1000, description="Per-client queue; Mosquitto's 1000 drops bursts."
    )
    max_queued_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Per-client cap on queued payload bytes (0: no cap); bounds memory when "
        "large payloads pile up for a slow client.",
    )
    max_inflight_messages: int = Field(100, ge=1, description="QoS 1/2 in flight per client.")
    autosave_interval: int = Field(
        60, ge=0, description="Seconds between persistence saves (retained messages, sessions)."
    )
    sys_interval: int = Field(10, ge=0, description="Seconds between $SYS counter updates.")
    log_stdout: bool = Field(False, description="Also log to stdout, besides the log file.")
    node_accounts: list[str] = Field(
        default_factory=list,
        description="Ids of nodes running on other machines that need a broker account "
        "(nodes listed under 'nodes:' get one automatically).",
    )
    users: list[BrokerUser] = Field(
        default_factory=list,
        description="Third-party accounts (zigbee2mqtt, tasmota...) with their exact topic lists.",
    )
    tls_port: int | None = Field(None, description="Also listen with TLS on this port.")
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    bridge: BridgeConfig = BridgeConfig()


class SparkConfig(StrictModel):
    """The whole home lab: broker link, hub, and the nodes this machine runs."""

    mqtt: MqttConfig = MqttConfig()
    hub: HubConfig = HubConfig()
    broker: BrokerConfig = BrokerConfig()
    nodes: list[NodeConfig] = Field(default_factory=list, description="Node agents to run.")
    recorder: RecorderConfig = RecorderConfig()
    bridges: BridgesConfig = BridgesConfig()
    ui: UiConfig = UiConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _unique_nodes(self) -> SparkConfig:
        seen: set[str] = {self.hub.id}
        for node in self.nodes:
            if node.id in seen:
                raise ValueError(f"node id {node.id!r} is used twice (the hub is {self.hub.id!r})")
            seen.add(node.id)
        return self

    def agent_settings(self) -> AgentSettings:
        """What every node agent (and the hub's) takes from this file besides its own section."""
        return AgentSettings(mqtt=self.mqtt, hub_id=self.hub.id,
                             discovery_mode=self.hub.discovery_mode,
                             request_timeout=self.hub.request_timeout)

    def node(self, node_id: str) -> NodeConfig:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)
