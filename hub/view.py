"""What the web layer (panel and REST API) reads and calls of a running hub: the registry
(entities, devices, their state), the services, the history, the event stream, the MQTT link
and which nodes are online. :class:`~hub.app.Hub` implements it; ``spark.ui`` types against
this protocol only, so the hub never depends on the web layer (app/runtime puts them
together)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from spark.core.config.mqtt import MqttConfig
    from spark.core.events import EventBus
    from spark.core.mqtt import MqttClient
    from spark.core.supervisor import Supervisor
    from spark.core.topics import TopicLayout
    from spark.hub.ask import Assistant
    from spark.hub.llm.service import LlmService
    from spark.hub.recorder import Recorder
    from spark.hub.registry import Registry
    from spark.hub.services import Services


class HubView(Protocol):
    """Read-only members; ``None`` until the hub has started them (``registry``,
    ``services``, ``client``) or when it keeps no history (``recorder``)."""

    @property
    def node_id(self) -> str:
        """The hub's own node id (its device and availability topic)."""
        ...

    @property
    def layout(self) -> TopicLayout: ...

    @property
    def mqtt(self) -> MqttConfig:
        """The broker connection the hub uses."""
        ...

    @property
    def bus(self) -> EventBus:
        """The hub's event stream: ``bus.subscribe`` / ``bus.listen``."""
        ...

    @property
    def registry(self) -> Registry | None: ...

    @property
    def services(self) -> Services | None: ...

    @property
    def recorder(self) -> Recorder | None: ...

    @property
    def client(self) -> MqttClient | None: ...

    @property
    def llm(self) -> LlmService | None:
        """The LLM router (``/api/llm/*``); None: no ``llm.backends`` configured."""
        ...

    @property
    def assistant(self) -> Assistant:
        """The hub's ``ask`` (``POST /api/llm/ask``, the panel's Assistant page): the
        conversation agent, its conversations (bounded) and its config."""
        ...

    @property
    def supervisor(self) -> Supervisor:
        """The process's components (housekeeping, cloud sources, the web server): which
        one died, why, and how often it was restarted."""
        ...

    @property
    def nodes_online(self) -> Mapping[str, bool]:
        """Every node whose availability the hub has seen: online or not."""
        ...

    def when_attached(self, callback: Callable[[MqttClient], None]) -> None:
        """Call ``callback`` with the hub's MQTT client once it exists (now, if it does), for
        extra subscriptions on the hub's connection."""
        ...
