"""Home Assistant MQTT discovery payloads published by third parties (Zigbee2MQTT, Tasmota,
ESPHome, ...): abbreviation tables, normalisation, typed models and a total parser."""

from __future__ import annotations

from spark.core.discovery.models import (
    AvailabilitySpec,
    DeviceDescription,
    DiscoveredEntity,
    OriginInfo,
    Removal,
)
from spark.core.discovery.normalize import normalize
from spark.core.discovery.schema import (
    MAX_DISCOVERY_BYTES,
    PLATFORMS,
    SHARED_OPTIONS,
    DiscoveryItem,
    parse_discovery,
    topic_name,
)

__all__ = [
    "MAX_DISCOVERY_BYTES",
    "PLATFORMS",
    "SHARED_OPTIONS",
    "AvailabilitySpec",
    "DeviceDescription",
    "DiscoveredEntity",
    "DiscoveryItem",
    "OriginInfo",
    "Removal",
    "normalize",
    "parse_discovery",
    "topic_name",
]
