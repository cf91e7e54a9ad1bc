"""What every node agent takes from the shared config: the broker link and the hub it serves.

The composition root (``app``) builds one from the whole config; a node never sees that file,
only these settings and its own section (``NodeContext.node``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spark.core.config.mqtt import MqttConfig
from spark.core.topics import TopicLayout

DiscoveryMode = Literal["entity", "device"]


@dataclass(frozen=True, slots=True)
class AgentSettings:
    mqtt: MqttConfig  # broker connection and topic layout
    hub_id: str  # the hub's node id: every entity's device hangs off it (via_device)
    discovery_mode: DiscoveryMode  # per-entity configs, or one device config per node
    request_timeout: float  # seconds to wait for the hub's (or a node's) answer
    site: str = "home"  # unique ids and device identifiers: spark_<site>_<node>
    identity_file: Path | None = None  # adopted unique-id prefixes (core.agent.identity)
    # Also list the hub's availability on every node entity (mode "all"): HA then cannot
    # control a node while the hub is down. Off by default: a node answers for itself.
    hub_availability: bool = False
    migrate_settle: float = 3.0  # s between the steps of HA's migrate_discovery handshake

    def layout(self) -> TopicLayout:
        return self.mqtt.layout()
