"""Typed configuration: strict pydantic models, YAML loading, env and secret-file overrides.

Names are imported lazily (PEP 562) so that ``nodes.<kind>.config`` modules can use
``core.config.base`` without importing the whole schema (which imports every node kind).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_config": "spark.app.config.loader",
    "load_config_text": "spark.app.config.loader",
    "BrokerConfig": "spark.hub.broker.config",
    "HubConfig": "spark.app.config.models",
    "MqttConfig": "spark.core.config.mqtt",
    "SparkConfig": "spark.app.config.models",
    "TlsConfig": "spark.core.config.mqtt",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'spark.app.config' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
