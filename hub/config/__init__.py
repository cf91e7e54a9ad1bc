"""Typed configuration: strict pydantic models, YAML loading, env and secret-file overrides."""

from hub.config.loader import load_config, load_config_text
from hub.config.models import (
    BrokerConfig,
    HubConfig,
    MqttConfig,
    SparkConfig,
    TlsConfig,
)

__all__ = [
    "BrokerConfig",
    "HubConfig",
    "MqttConfig",
    "SparkConfig",
    "TlsConfig",
    "load_config",
    "load_config_text",
]
