"""Typed configuration: strict pydantic models, YAML loading, env and secret-file overrides.

Names are imported lazily (PEP 562) so that ``nodes.<kind>.config`` modules can use
``hub.config.base`` without importing the whole schema (which imports every node kind).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_config": "hub.config.loader",
    "load_config_text": "hub.config.loader",
    "BrokerConfig": "hub.config.models",
    "HubConfig": "hub.config.models",
    "MqttConfig": "hub.config.models",
    "SparkConfig": "hub.config.models",
    "TlsConfig": "hub.config.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hub.config' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
