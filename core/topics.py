"""The MQTT topic layout. Every topic Prime Spark publishes or subscribes to is built here.

Layout (``<base>`` defaults to ``spark``, ``<prefix>`` to ``homeassistant``)::

    <base>/<node>/availability             retained "online" / "offline" (offline is the will)
    <base>/<node>/<object>/state           retained entity state (raw value, HA style)
    <base>/<node>/<object>/attributes      retained JSON attributes (json_attributes_topic)
    <base>/<node>/<object>/set             command to an entity (not retained)
    <base>/<node>/request/<caller>/<method>   request, JSON with an "id" correlation key;
                                           <caller> is the sender's broker account, which the
                                           broker's ACL lets write only its own name there
    <base>/<node>/response/<caller>/<method>  response {"id", "status": ok|error, "data"?, "error"?}
    <base>/<node>/response/command         outcome of a command sent to one of the node's entities
    <base>/<node>/telemetry                compact per-interval metrics for the cloud bridges
    <base>/<node>/inference                inference results of a vision node, or the LLM
                                           answers the hub served (cloud bridges)
    <base>/<node>/power                    retained power state (battery, source, mode, strategy)
    <prefix>/<component>/<node>/<object>/config   per-entity discovery (all HA versions)
    <prefix>/device/<node>/config                 device-based discovery (HA >= 2024.11)
    <prefix>/status                               Home Assistant birth / will

The hub is a node like any other: its id defaults to ``hub``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from paho.mqtt.client import topic_matches_sub

from spark.core.errors import TopicError

log = logging.getLogger(__name__)
# One topic level: HA's discovery grammar. ``\Z``, not ``$``: "n1\n" is not a segment.
SEGMENT_RE = re.compile(r"[a-zA-Z0-9_-]+\Z")
MAX_TOPIC_BYTES = 65535
# Object ids that would collide with node-level topics of the same depth.
RESERVED_OBJECT_IDS = frozenset({"availability", "request", "response", "telemetry", "power"})

ONLINE = "online"
OFFLINE = "offline"


def valid_segment(value: str, what: str = "segment") -> str:
    """Return ``value`` if it is a safe single topic segment (``[a-zA-Z0-9_-]+``)."""
    if not isinstance(value, str) or not SEGMENT_RE.match(value):
        raise TopicError(
            f"invalid {what} {value!r}: use only letters, digits, '_' and '-' (no '/', '+', '#')"
        )
    return value


def valid_object_id(value: str) -> str:
    valid_segment(value, "object id")
    if value in RESERVED_OBJECT_IDS:
        raise TopicError(f"object id {value!r} is reserved; pick another name")
    return value


def valid_publish_topic(topic: str) -> str:
    """A topic one may publish to: non-empty, no wildcards, no NUL, at most 65535 bytes."""
    if not topic:
        raise TopicError("empty topic")
    if "+" in topic or "#" in topic:
        raise TopicError(f"cannot publish to wildcard topic {topic!r}")
    if "\0" in topic:
        raise TopicError("topic contains NUL")
    if len(topic.encode()) > MAX_TOPIC_BYTES:
        raise TopicError("topic longer than 65535 bytes")
    return topic


def valid_subscribe_filter(topic_filter: str) -> str:
    if not topic_filter or "\0" in topic_filter:
        raise TopicError(f"invalid topic filter {topic_filter!r}")
    parts = topic_filter.split("/")
    for i, part in enumerate(parts):
        if "#" in part and (part != "#" or i != len(parts) - 1):
            raise TopicError(f"'#' must be a whole last level in {topic_filter!r}")
        if "+" in part and part != "+":
            raise TopicError(f"'+' must be a whole level in {topic_filter!r}")
    return topic_filter


def matches(topic_filter: str, topic: str) -> bool:
    return bool(topic_matches_sub(topic_filter, topic))


def _valid_prefix(value: str, what: str) -> str:
    if not value or value.startswith("/") or value.endswith("/"):
        raise TopicError(f"invalid {what} {value!r}: no leading/trailing '/'")
    for part in value.split("/"):
        valid_segment(part, what)
    return value


@dataclass(frozen=True, slots=True)
class DiscoveryTopic:
    """A parsed discovery topic. ``node_id`` is None for the 3-level form; for device-based
    discovery ``component`` is ``"device"`` and ``object_id`` is None."""

    component: str
    node_id: str | None
    object_id: str | None

    @property
    def is_device(self) -> bool:
        return self.component == "device"


@dataclass(frozen=True, slots=True)
class EntityTopic:
    node_id: str
    object_id: str


@dataclass(frozen=True, slots=True)
class RequestTopic:
    """``<base>/<node>/request/<caller>/<method>``: ``caller`` is the sender's broker account
    (the ACL lets an account write only requests under its own name)."""

    node_id: str
    caller: str
    method: str


class TopicLayout:
    """Builds and parses every topic. Immutable; cheap to pass around."""

    __slots__ = ("_base_parts", "_prefix_parts", "base", "prefix", "rejected")

    def __init__(self, base: str = "spark", discovery_prefix: str = "homeassistant") -> None:
        self.base = _valid_prefix(base, "base topic")
        self.prefix = _valid_prefix(discovery_prefix, "discovery prefix")
        self._base_parts = len(self.base.split("/"))
        self._prefix_parts = len(self.prefix.split("/"))
        self.rejected = RejectedTopics()

    # ---- node level -------------------------------------------------------------------
    def availability(self, node_id: str) -> str:
        return f"{self.base}/{valid_segment(node_id, 'node id')}/availability"

    def telemetry(self, node_id: str) -> str:
        return f"{self.base}/{valid_segment(node_id, 'node id')}/telemetry"

    def power_state(self, node_id: str) -> str:
        return f"{self.base}/{valid_segment(node_id, 'node id')}/power"

    def pipeline(self, node_id: str) -> str:
        """Voice pipeline events (JSON, not retained): wake, speech, transcript, intent..."""
        return f"{self.base}/{valid_segment(node_id, 'node id')}/pipeline"

    def models_announcement(self) -> str:
        """Retained: the latest model update from the cloud (Kafka ``models.updates``)."""
        return f"{self.base}/cloud/models"

    def request(self, node_id: str, method: str, caller: str) -> str:
        """A request to ``node_id`` from account ``caller``."""
        node, who = valid_segment(node_id, "node id"), valid_segment(caller, "caller")
        return f"{self.base}/{node}/request/{who}/{valid_segment(method, 'method')}"

    def response(self, node_id: str, method: str, caller: str) -> str:
        """The answer of ``node_id`` to ``caller``'s request."""
        node, who = valid_segment(node_id, "node id"), valid_segment(caller, "caller")
        return f"{self.base}/{node}/response/{who}/{valid_segment(method, 'method')}"

    def command_outcome(self, node_id: str) -> str:
        """Outcome of a command sent to one of the node's entities (errors, correlated acks)."""
        return f"{self.base}/{valid_segment(node_id, 'node id')}/response/command"

    def owner_probe(self, node_id: str) -> str:
        """The loopback marker of an ownership probe (core.agent.ownership)."""
        return f"{self.base}/{valid_segment(node_id, 'node id')}/response/owner-probe"

    # ---- entity level -----------------------------------------------------------------
    def _entity(self, node_id: str, object_id: str, leaf: str) -> str:
        node = valid_segment(node_id, "node id")
        return f"{self.base}/{node}/{valid_object_id(object_id)}/{leaf}"

    def state(self, node_id: str, object_id: str) -> str:
        return self._entity(node_id, object_id, "state")

    def attributes(self, node_id: str, object_id: str) -> str:
        return self._entity(node_id, object_id, "attributes")

    def command(self, node_id: str, object_id: str) -> str:
        return self._entity(node_id, object_id, "set")

    # ---- subscription filters ---------------------------------------------------------
    def node_commands(self, node_id: str) -> str:
        return f"{self.base}/{valid_segment(node_id, 'node id')}/+/set"

    def node_requests(self, node_id: str) -> str:
        return f"{self.base}/{valid_segment(node_id, 'node id')}/request/+/+"

    def caller_requests(self, caller: str) -> str:
        """Every request account ``caller`` may send (to any node): its ACL write rule."""
        return f"{self.base}/+/request/{valid_segment(caller, 'caller')}/+"

    def all_availability(self) -> str:
        return f"{self.base}/+/availability"

    def all_responses(self, node_id: str, caller: str) -> str:
        """Every answer of ``node_id`` to ``caller``."""
        node, who = valid_segment(node_id, "node id"), valid_segment(caller, "caller")
        return f"{self.base}/{node}/response/{who}/+"

    def node_namespace(self, node_id: str) -> str:
        """Everything under one node (what its broker account may write)."""
        return f"{self.base}/{valid_segment(node_id, 'node id')}/#"

    def everything(self) -> str:
        return f"{self.base}/#"

    def all_commands(self) -> str:
        return f"{self.base}/+/+/set"

    def describe(self) -> list[tuple[str, str]]:
        """The layout with placeholders, for people (``spark up`` prints it)."""
        b, p = self.base, self.prefix
        return [
            ("availability", f"{b}/<node>/availability   online/offline, retained"),
            ("entity state", f"{b}/<node>/<entity>/state  retained"),
            ("commands", f"{b}/<node>/<entity>/set    e.g. {b}/sim/lamp/set ON"),
            ("command errors", f"{b}/<node>/response/command"),
            ("requests", f"{b}/<node>/request/<account>/<method> -> "
                         f"{b}/<node>/response/<account>/<method>"),
            ("HA discovery", f"{p}/<platform>/<node>/<entity>/config"),
        ]

    def all_telemetry(self) -> str:
        return f"{self.base}/+/telemetry"

    def inference(self, node_id: str) -> str:
        """Inference results of a vision node, or the hub's LLM answers (``kind: "llm"``;
        JSON, see bridges/ingest/mapper.py)."""
        return f"{self.base}/{valid_segment(node_id, 'node id')}/inference"

    def all_inference(self) -> str:
        return f"{self.base}/+/inference"

    def all_states(self) -> str:
        return f"{self.base}/+/+/state"

    def all_discovery(self) -> str:
        return f"{self.prefix}/#"

    def node_discovery(self, node_id: str) -> str:
        """Every per-entity discovery config a node published (for ghost cleanup)."""
        return f"{self.prefix}/+/{valid_segment(node_id, 'node id')}/+/config"

    # ---- Home Assistant discovery ------------------------------------------------------
    def discovery(self, component: str, node_id: str, object_id: str) -> str:
        return (
            f"{self.prefix}/{valid_segment(component, 'component')}/"
            f"{valid_segment(node_id, 'node id')}/{valid_segment(object_id, 'object id')}/config"
        )

    def device_discovery(self, device_id: str) -> str:
        return f"{self.prefix}/device/{valid_segment(device_id, 'device id')}/config"

    def ha_status(self) -> str:
        return f"{self.prefix}/status"

    # ---- parsing ----------------------------------------------------------------------
    def _split(self, topic: str, parts: int) -> list[str] | None:
        levels = topic.split("/")
        return levels[parts:] if len(levels) > parts else None

    def parse_discovery(self, topic: str) -> DiscoveryTopic | None:
        """Parse ``<prefix>/<component>/[<node_id>/]<object_id>/config``. A config topic
        whose ids break the grammar is None (and logged, see :class:`RejectedTopics`)."""
        if not topic.startswith(self.prefix + "/"):
            return None
        rest = self._split(topic, self._prefix_parts)
        if not rest or rest[-1] != "config" or len(rest) not in (3, 4):
            return None
        if not self._valid_ids(topic, rest[:-1]):
            return None
        if len(rest) == 3:
            if rest[0] == "device":
                return DiscoveryTopic("device", None, rest[1])
            return DiscoveryTopic(rest[0], None, rest[1])
        return DiscoveryTopic(rest[0], rest[1], rest[2])

    def parse_command(self, topic: str) -> EntityTopic | None:
        rest = self._split(topic, self._base_parts) if topic.startswith(self.base + "/") else None
        if rest and len(rest) == 3 and rest[2] == "set" and rest[1] not in RESERVED_OBJECT_IDS \
                and self._valid_ids(topic, rest[:2]):
            return EntityTopic(rest[0], rest[1])
        return None

    def parse_state(self, topic: str) -> EntityTopic | None:
        """``<base>/<node>/<object>/state``, both ids inside the grammar (else None, logged)."""
        rest = self._split(topic, self._base_parts) if topic.startswith(self.base + "/") else None
        if rest and len(rest) == 3 and rest[2] == "state" and rest[1] not in RESERVED_OBJECT_IDS \
                and self._valid_ids(topic, rest[:2]):
            return EntityTopic(rest[0], rest[1])
        return None

    def parse_request(self, topic: str) -> RequestTopic | None:
        """``<base>/<node>/request/<caller>/<method>``; None for anything else, including
        segments outside the topic grammar."""
        rest = self._split(topic, self._base_parts) if topic.startswith(self.base + "/") else None
        if rest and len(rest) == 4 and rest[1] == "request" \
                and self._valid_ids(topic, [rest[0], rest[2], rest[3]]):
            return RequestTopic(rest[0], rest[2], rest[3])
        return None

    def parse_availability(self, topic: str) -> str | None:
        """The node id of ``<base>/<node>/availability``; None for other topics and for a
        node id outside the grammar (logged: it never reaches the registry or the panel)."""
        rest = self._split(topic, self._base_parts) if topic.startswith(self.base + "/") else None
        if rest and len(rest) == 2 and rest[1] == "availability" \
                and self._valid_ids(topic, rest[:1]):
            return rest[0]
        return None

    def _valid_ids(self, topic: str, ids: list[str]) -> bool:
        for value in ids:
            if not SEGMENT_RE.match(value):
                self.rejected.report(topic, value)
                return False
        return True


class RejectedTopics:
    """Topics dropped because an id in them breaks the grammar: one warning per topic per
    ``period`` seconds, at most ``size`` topics remembered (a flood of distinct bad topics
    costs bounded memory, and at most one line per topic per period)."""

    def __init__(self, period: float = 300.0, size: int = 1024) -> None:
        self.period, self.size = period, size
        self.count = 0
        self._last: dict[str, float] = {}

    def report(self, topic: str, value: str) -> None:
        self.count += 1
        now = time.monotonic()
        last = self._last.get(topic)
        if last is not None and now - last < self.period:
            return
        self._last.pop(topic, None)
        while len(self._last) >= self.size:  # forget the oldest line first
            del self._last[next(iter(self._last))]
        self._last[topic] = now
        log.warning("dropped a message on %.200r: id %.80r is outside the topic grammar "
                    "(letters, digits, '_' and '-' only)", topic, value)
