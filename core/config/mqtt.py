"""The broker connection every process makes: address, login, TLS, topics, queues."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from spark.core.config.base import StrictModel
from spark.core.topics import SEGMENT_RE, TopicLayout


def _segment(value: str) -> str:
    if not SEGMENT_RE.match(value):
        raise ValueError("use only letters, digits, '_' and '-'")
    return value


class TlsConfig(StrictModel):
    enabled: bool = Field(False, description="Connect with TLS.")
    ca_file: Path | None = Field(None, description="CA bundle that signed the broker cert.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="Client key (mutual TLS).")
    insecure: bool = Field(False, description="Skip hostname check (testing only).")


class MqttConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Broker address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    username: str | None = Field(None, description="Login; None for an anonymous broker.")
    password: SecretStr | None = Field(None, description="Password; prefer password_file.")
    password_file: Path | None = Field(None, description="File holding the password.")
    protocol: Literal["3.1.1", "5"] = Field("3.1.1", description="MQTT protocol version.")
    keepalive: int = Field(30, ge=5, le=3600, description="Keepalive seconds.")
    connect_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds from the TCP (and TLS) connection to the "
        "broker's CONNACK before the attempt counts as failed.")
    tls: TlsConfig = TlsConfig()
    base_topic: str = Field("spark", description="Root of Prime Spark's own topics.")
    discovery_prefix: str = Field("homeassistant", description="HA discovery prefix.")
    client_id_prefix: str = Field("spark", description="Client ids are <prefix>-<node>-<random>.")
    offline_queue: int = Field(
        100_000, ge=0, description="Messages kept while disconnected (oldest dropped past it)."
    )
    max_payload: int = Field(
        256 * 1024, ge=1024, description="Incoming payloads larger than this are rejected."
    )
    reconnect_min: float = Field(0.5, gt=0, description="First reconnect delay, seconds.")
    reconnect_max: float = Field(30.0, gt=0, description="Longest reconnect delay, seconds.")

    @field_validator("client_id_prefix")
    @classmethod
    def _client_prefix(cls, v: str) -> str:
        return _segment(v)

    @model_validator(mode="after")
    def _check(self) -> MqttConfig:
        TopicLayout(self.base_topic, self.discovery_prefix)  # raises TopicError on bad values
        if self.password is not None and self.password_file is not None:
            raise ValueError("set either password or password_file, not both")
        return self

    def layout(self) -> TopicLayout:
        return TopicLayout(self.base_topic, self.discovery_prefix)

    def secret(self) -> str | None:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return None
