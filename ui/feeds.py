"""What the panel keeps beside the hub: recent events for the dashboard and the voice
pipeline log. Both are bounded rings fed by the hub's bus and MQTT link."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from spark.core.errors import PayloadError, TopicError
from spark.core.events import AvailabilityChanged, EntityFired, HubEvent, NodeAvailability
from spark.core.mqtt import Message
from spark.hub.recorder.models import describe
from spark.ui.timefmt import humanize

if TYPE_CHECKING:
    from spark.core.mqtt import MqttClient
    from spark.ui.api.view import HubQueries

log = logging.getLogger(__name__)
FEED_TYPES = (EntityFired, AvailabilityChanged, NodeAvailability)


COALESCE_S = 600.0  # a repeat within this many seconds joins the earlier line


@dataclass(frozen=True, slots=True)
class EventLine:
    """One dashboard line. ``key`` says which lines are repeats of each other (an entity's
    event type: a camera's detections differ in score but are one thing happening again);
    ``count`` repeats since ``first``."""

    time: float
    icon: str
    text: str
    entity_id: str | None = None
    key: str = ""
    count: int = 1
    first: float = 0.0

    def again(self, newer: EventLine) -> EventLine:
        return replace(newer, count=self.count + 1, first=self.first or self.time)


def event_line(view: HubQueries, event: HubEvent) -> EventLine | None:
    """A dashboard line for an event worth telling (None: not worth it)."""
    if isinstance(event, NodeAvailability):
        return EventLine(event.time, "link" if event.online else "link_off",
                         f"node {event.node_id} is {'online' if event.online else 'offline'}")
    if isinstance(event, EntityFired):
        extra = ", ".join(f"{k} {humanize(v)}" for k, v in list(event.data.items())[:3])
        record = view.get(event.entity_id)
        dev = view.device(record.device_id) if record is not None else None
        meta = describe(record, dev.name if dev else None)
        name = (meta.name if meta else None) or event.entity_id
        text = f"{name}: {event.event_type}" + (f" ({extra})" if extra else "")
        return EventLine(event.time, "notifications", text, event.entity_id,
                         f"fired {event.entity_id} {event.event_type}")
    if isinstance(event, AvailabilityChanged):
        record = view.get(event.entity_id)
        if record is None or view.node_of(record) is not None:
            return None  # a Spark node's entities follow the node: its line says it
        state = "available" if event.available else "unavailable"
        return EventLine(event.time, "sensors", f"{event.entity_id} is {state}", event.entity_id)
    return None


class RecentEvents:
    """The dashboard's lines, newest first. A repeat (same ``key``) within
    :data:`COALESCE_S` of its earlier line replaces it at the top with the count raised."""

    def __init__(self, view: HubQueries, size: int) -> None:
        self.view = view
        self.lines: deque[EventLine] = deque(maxlen=size)

    def take(self, event: HubEvent) -> EventLine | None:
        line = event_line(self.view, event)
        if line is None:
            return None
        if line.key:
            for old in self.lines:
                if old.key == line.key and line.time - old.time <= COALESCE_S:
                    self.lines.remove(old)
                    line = old.again(line)
                    break
        self.lines.appendleft(line)
        return line


@dataclass(frozen=True, slots=True)
class PipelineLine:
    time: float
    node: str
    run: str
    type: str
    data: dict[str, Any]
    timings: dict[str, float]


class VoiceLog:
    """Voice pipeline events (``<base>/<node>/pipeline``) of every node seen, newest first."""

    def __init__(self, view: HubQueries, size: int = 200) -> None:
        self.view = view
        self.lines: deque[PipelineLine] = deque(maxlen=size)
        self.listeners: list[Callable[[PipelineLine], None]] = []
        self._client: MqttClient | None = None
        self._nodes: set[str] = set()
        self._parse: Callable[[bytes], Any] | None = None
        try:  # the voice node may not be installed on this hub
            from spark.core.messages.voice import PipelineEvent
        except ImportError:
            log.info("panel: no voice node package; the voice page stays hidden")
        else:
            if hasattr(view.layout, "pipeline"):
                self._parse = PipelineEvent.from_payload

    @property
    def present(self) -> bool:
        voice_nodes = "voice" in self.view.site.nodes.values()
        return self._parse is not None and (bool(self.lines) or voice_nodes)

    def attach(self, client: MqttClient) -> None:
        self._client = client
        for node in [*self.view.hub.nodes_online, *self.view.site.nodes]:
            self.follow(node)

    def follow(self, node: str) -> None:
        if self._parse is None or self._client is None or node in self._nodes:
            return
        try:  # ids come from the network: one outside the grammar is skipped, never raised
            topic = self.view.layout.pipeline(node)
        except TopicError as exc:
            log.warning("panel: not following the voice events of node %.80r: %s", node, exc)
            return
        self._nodes.add(node)
        self._client.subscribe(topic, self._on_message, 0)

    def on_event(self, event: HubEvent) -> None:
        if isinstance(event, NodeAvailability):
            self.follow(event.node_id)

    def close(self) -> None:
        """The panel closed (the web component stops or restarts): drop what still comes on
        the subscriptions (the MQTT client keeps a filter's handlers for its life)."""
        self._client = None
        self._parse = None
        self.listeners.clear()

    def _on_message(self, msg: Message) -> None:
        if self._parse is None:
            return
        try:
            event = self._parse(bytes(msg.payload))
        except PayloadError as exc:
            log.warning("panel: dropped a pipeline event on %s: %s", msg.topic, exc)
            return
        line = PipelineLine(event.time.timestamp() if event.time else time.time(), event.node,
                            event.run, event.type, dict(event.data), dict(event.timings))
        self.lines.appendleft(line)
        for listener in list(self.listeners):
            listener(line)
