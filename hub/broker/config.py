"""The ``broker:`` config section, and :class:`BrokerSettings`: what the broker side (files,
accounts, ACLs, the process, the choice of broker) reads from the whole config, built by app
(``SparkConfig.broker_settings()``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from spark.core.config.base import StrictModel
from spark.core.config.mqtt import MqttConfig


class BrokerUser(StrictModel):
    username: str
    password: SecretStr | None = None
    password_file: Path | None = None
    read: list[str] = Field(default_factory=list, description="Topic filters it may read.")
    write: list[str] = Field(default_factory=list, description="Topic filters it may publish to.")
    readwrite: list[str] = Field(
        default_factory=list, description="Topic filters it may both read and publish to."
    )
    trusted: bool = Field(
        False, description="Grant the lists exactly. Otherwise (third-party accounts such as "
        "zigbee2mqtt) the generated ACL adds 'deny' lines for our nodes' discovery configs "
        "that a write rule would reach (e.g. homeassistant/#): only our nodes write those.",
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
    run_user: str = Field(
        "mosquitto",
        min_length=1,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
        description="The unprivileged user a Mosquitto we start as root switches to (Debian's "
        "package creates 'mosquitto'); broker.data_dir is handed to it. Not used when not root.",
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


@dataclass(frozen=True, slots=True)
class NodeAccount:
    """A node configured under ``nodes:``: its broker login (username default: its id)."""

    id: str
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """The broker connection, the hub's id, the ``broker:`` section and the configured nodes
    (each gets an account)."""

    mqtt: MqttConfig
    hub_id: str
    broker: BrokerConfig
    nodes: tuple[NodeAccount, ...] = ()
