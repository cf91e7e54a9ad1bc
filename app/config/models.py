"""Top-level config schema. Defaults live only here; node kinds bring their own sections."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from spark.bridges.config import BridgesConfig, BridgeSettings
from spark.core.agent.settings import AgentSettings
from spark.core.config.base import StrictModel
from spark.core.config.mqtt import MqttConfig, _segment
from spark.hub.ask import AskConfig
from spark.hub.broker.config import BrokerConfig, BrokerSettings, NodeAccount
from spark.hub.llm.config import LlmConfig
from spark.hub.policy import PolicyConfig
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
    site: str = Field(
        "home",
        description="This installation's id in Home Assistant unique ids and device "
        "identifiers (spark_<site>_<node>_<entity>): give each Prime Spark install that "
        "shares one Home Assistant its own. Never derived from the hardware, so a replaced "
        "board or SD card keeps every entity.",
    )
    identity_file: Path | None = Field(
        None,
        description="Where a node keeps the unique-id prefix it adopted from an install made "
        "before hub.site existed (hardware-based ids). Default: beside the config file "
        "(<config>.identity.json; .spark/identity.json without one). Copy it with the config "
        "to a new board.",
    )
    gate_availability: bool = Field(
        False,
        description="Also list the hub's availability on every node entity (mode all): Home "
        "Assistant then shows a node's entities unavailable, and cannot control them, while "
        "the hub is down. Off: each node's entities follow only the node's own will.",
    )
    migrate_settle: float = Field(
        3.0, ge=0, le=300,
        description="Seconds a node waits, after switching discovery_mode with Home "
        "Assistant's migrate_discovery handshake, before clearing the old discovery topics.",
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Who may make the "
                                 "hub call which services on which entities.")
    ask: AskConfig = Field(default_factory=AskConfig, description="The assistant behind the "
                           "hub's ask (RPC, POST /api/llm/ask): prompt, memory, the entities "
                           "it may act on (expose; none by default) and its tool-loop bounds.")
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
    max_discovery_bytes: int = Field(
        64 * 2**20, ge=64 * 1024, le=2**34,
        description="Bytes of discovery configs (topic + payload, the latest per topic) the hub "
        "holds in total; a config past it is refused like one past max_entities. The entity "
        "counts alone do not bound memory: configs may be 256 KB each (a Zigbee2MQTT one is "
        "~2 KB).",
    )
    max_picture_bytes: int = Field(
        64 * 2**20, ge=64 * 1024, le=2**34,
        description="Bytes of pictures (decoded) the hub keeps in total for camera and image "
        "entities, each of which keeps its latest one (at most 8 MiB). A new picture that "
        "would pass it drops the least recently updated others (those entities show no "
        "picture until their next one; one log line per burst); a picture larger than the "
        "whole budget is rejected.",
    )

    @field_validator("id", "site")
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


class SparkConfig(StrictModel):
    """The whole home lab: broker link, hub, and the nodes this machine runs."""

    mqtt: MqttConfig = MqttConfig()
    hub: HubConfig = HubConfig()
    broker: BrokerConfig = BrokerConfig()
    nodes: list[NodeConfig] = Field(default_factory=list, description="Node agents to run.")
    recorder: RecorderConfig = RecorderConfig()
    bridges: BridgesConfig = BridgesConfig()
    ui: UiConfig = UiConfig()
    llm: LlmConfig = Field(default_factory=LlmConfig, description="The LLM router; no "
                           "backends (the default): off, /api/llm/* answer 503.")
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
                             request_timeout=self.hub.request_timeout, site=self.hub.site,
                             identity_file=self.hub.identity_file,
                             hub_availability=self.hub.gate_availability,
                             migrate_settle=self.hub.migrate_settle)

    def broker_settings(self) -> BrokerSettings:
        """What the broker side reads (``spark.hub.broker``)."""
        return BrokerSettings(self.mqtt, self.hub.id, self.broker, tuple(
            NodeAccount(n.id, n.username, n.password, n.password_file) for n in self.nodes))

    def bridge_settings(self) -> BridgeSettings:
        """What the bridge process reads (``spark.bridges``)."""
        return BridgeSettings(self.agent_settings(), self.bridges, self.log_level)

    def node(self, node_id: str) -> NodeConfig:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)
