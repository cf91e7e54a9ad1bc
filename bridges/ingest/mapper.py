"""MQTT messages -> cloud records, with their idempotency keys.

  <base>/<node>/telemetry        -> MetricRecord per row; time from the message
  <base>/<node>/<object>/state   -> SensorRecord (device_id = node, sensor_id = entity id,
                                    numeric ``value`` when the payload parses as a finite
                                    number, ``unit`` from discovery); EventRecord for ``event``
                                    entities (payload ``{"event_type": ..., ...}``)
  <base>/<node>/availability     -> HealthRecord (online / offline)
  <base>/<node>/inference        -> InferenceRecord (core/messages/vision.py's wire form, or
                                    with ``"kind": "llm"`` core/messages/llm.py's
                                    LlmInferenceMessage: tier, cached, tokens; key
                                    ``inference:<node>:<id>`` either way)

The entity id, platform and unit come from a cache of the nodes' retained discovery configs
(``<prefix>/<platform>/<node>/<object>/config`` and device-based configs), keyed by state topic;
before its config is seen an entity is taken for a ``sensor``. Image and camera states (binary)
are not records: they are known by every topic their config names (an image's
``image_topic`` / ``url_topic``, a camera's ``topic``), not only ``state_topic``.

Keys: telemetry keys derive from the content (device, metric, reading time), so a node's repeat
of the same reading is recognised anywhere; states, availability and events carry no time, so
they are stamped on arrival with a clock that never repeats a microsecond and keyed by topic +
that time. A redelivery after a bridge crash is recognised earlier, from its packet id
(bridges/ingest/subscriber.py), so such a record is never created twice.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from spark.bridges.outbox.store import Outbox, Row
from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError
from spark.core.messages.llm import LlmInferenceMessage
from spark.core.messages.records import (
    EventRecord,
    HealthRecord,
    MetricRecord,
    Priority,
    Record,
    SensorRecord,
)
from spark.core.messages.telemetry import MAX_ROWS, WIRE_VERSION, TelemetryMessage
from spark.core.messages.vision import InferenceMessage
from spark.core.topics import OFFLINE, ONLINE, SEGMENT_RE, TopicLayout

SKIP_PLATFORMS = frozenset({"image", "camera"})


class UniqueClock:
    """Wall-clock microseconds that strictly increase within the process."""

    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        now = time.time_ns() // 1000
        self._last = now if now > self._last else self._last + 1
        return self._last


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, UTC)


class Mapper:
    """Maps one message to records (raises PayloadError when malformed)."""

    def __init__(self, layout: TopicLayout) -> None:
        self.layout = layout
        self.clock = UniqueClock()
        self._base = layout.base + "/"
        self._depth = len(layout.base.split("/"))
        self._prefix = layout.prefix + "/"
        # state topic -> (entity id, platform, unit)
        self.entities: dict[str, tuple[str, str, str | None]] = {}
        self._configs: dict[str, list[str]] = {}  # discovery topic -> state topics it described

    # ---- discovery cache ----------------------------------------------------------------
    def is_discovery(self, topic: str) -> bool:
        return topic.startswith(self._prefix)

    def discovery(self, topic: str, payload: bytes | bytearray) -> None:
        parsed = self.layout.parse_discovery(topic)
        if parsed is None:
            return
        items = parse_discovery(parsed, payload, raw_topic=topic, errors=[])
        for state_topic in self._configs.pop(topic, []):
            self.entities.pop(state_topic, None)
        if not isinstance(items, list):  # removal
            return
        described = self._configs[topic] = []
        for item in items:
            if isinstance(item, DiscoveredEntity):
                for state_topic in _value_topics(item):
                    self.entities[state_topic] = self._describe(item)
                    described.append(state_topic)

    @staticmethod
    def _describe(item: DiscoveredEntity) -> tuple[str, str, str | None]:
        if item.default_entity_id and "." in item.default_entity_id:
            entity_id = item.default_entity_id
        else:
            obj = str(item.raw.get("object_id") or item.object_id or "unknown")
            entity_id = f"{item.component}.{obj}"
        return entity_id, item.component, item.unit_of_measurement

    # ---- records ------------------------------------------------------------------------
    def rows(self, topic: str, payload: bytes | bytearray, now: float) -> list[Row]:
        """The outbox rows of a message (``now``: its enqueue time): :meth:`records`,
        serialised; a well-formed telemetry message straight to rows, with no model per row
        (the ingest's hottest path: tests/test_bridge_mapper.py holds both ways equal)."""
        if topic.endswith(_TELEMETRY) and topic.startswith(self._base):
            parts = topic.split("/")[self._depth:]
            fast = fast_telemetry(payload) if len(parts) == 2 else None
            if fast is not None:
                return metric_rows(*fast, now)
        return Outbox.rows(self.records(topic, payload), now)

    def records(self, topic: str, payload: bytes | bytearray) -> list[Record]:
        """Records for a message on the bridge's subscriptions ([] for ones it ignores)."""
        if not topic.startswith(self._base):
            return []
        parts = topic.split("/")[self._depth:]
        if len(parts) in (2, 3) and not all(_name_ok(p) for p in parts[:len(parts) - 1]):
            # Ids from the topic become device ids in the cloud: only inside the topic grammar.
            raise PayloadError(f"an id in {topic[:200]!r} is outside the topic grammar")
        if len(parts) == 2:
            node, leaf = parts
            if leaf == "telemetry":
                return self._telemetry(payload)
            if leaf == "availability":
                return [self._health(node, payload)]
            if leaf == "inference":
                return [self._inference(node, payload)]
        elif len(parts) == 3 and parts[2] == "state":
            return self._state(topic, parts[0], parts[1], payload)
        return []

    def _telemetry(self, payload: bytes | bytearray) -> list[Record]:
        fast = fast_telemetry(payload)
        if fast is None:  # anything unusual: the message's own parser decides (and explains)
            msg = TelemetryMessage.from_payload(bytes(payload))
            fast = msg.time, [(r.device_id, r.metric_name, r.value) for r in msg.device_metrics]
        when, rows = fast
        us = int(when.timestamp() * 1e6)
        return [MetricRecord(key=f"metric:{dev}:{name}:{us}", device_id=dev, time=when,
                             metric_name=name, value=value) for dev, name, value in rows]

    def _state(self, topic: str, node: str, obj: str, payload: bytes | bytearray
               ) -> list[Record]:
        entity_id, platform, unit = self.entities.get(topic) or (f"sensor.{node}_{obj}",
                                                                   "sensor", None)
        if platform in SKIP_PLATFORMS:
            return []
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            raise PayloadError(f"state on {topic} is not UTF-8 text") from None
        us = self.clock.now_us()
        when = _dt(us)
        if platform == "event":
            body = _json_object(payload, topic)
            event_type = body.pop("event_type", None)
            if not isinstance(event_type, str) or not event_type:
                raise PayloadError(f"event on {topic} has no 'event_type'")
            return [EventRecord(key=f"event:{node}/{obj}:{us}", device_id=node, time=when,
                                event_type=event_type, source=entity_id, data=body)]
        value = _number(text)
        return [SensorRecord(key=f"sensor:{node}/{obj}:{us}", device_id=node, time=when,
                             sensor_id=entity_id, value=value, state=text[:255], unit=unit)]

    def _health(self, node: str, payload: bytes | bytearray) -> Record:
        status = payload.decode(errors="replace").strip()
        if status not in (ONLINE, OFFLINE):
            raise PayloadError(f"availability of {node} is {status[:40]!r}, not online/offline")
        us = self.clock.now_us()
        return HealthRecord(key=f"health:{node}:{us}", device_id=node, time=_dt(us),
                            status=status)  # type: ignore[arg-type]

    def _inference(self, node: str, payload: bytes | bytearray) -> Record:
        raw = bytes(payload)
        try:
            kind = _json_object(payload, f"inference of {node}").get("kind")
        except PayloadError:
            kind = None  # the vision parser says what is wrong
        if kind == "llm":
            return LlmInferenceMessage.from_payload(raw).to_record(node)
        return InferenceMessage.from_payload(raw).to_record(node)


def _value_topics(item: DiscoveredEntity) -> list[str]:
    """The topics that carry an entity's value: ``state_topic``; for image and camera
    entities (no records) also ``image_topic``, ``url_topic`` and the camera's ``topic``."""
    topics = [item.state_topic]
    if item.component in SKIP_PLATFORMS:
        topics += [item.image_topic, item.url_topic, item.raw.get("topic")]
    return list(dict.fromkeys(t for t in topics if isinstance(t, str) and t))


Rows = list[tuple[str, str, float]]  # device, metric, value


def fast_telemetry(payload: bytes | bytearray) -> tuple[datetime, Rows] | None:
    """The well-formed case of :class:`TelemetryMessage`'s wire form at a fifth of the cost
    (no models per row: the ingest's hottest path), or None for anything else, which then goes
    through ``TelemetryMessage.from_payload``. Accepts only what that accepts, with the same
    rows (tests/test_bridge_mapper.py holds them together)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(body) is not dict or body.get("v") != WIRE_VERSION:
        return None
    node, metrics, stamp = body.get("node"), body.get("metrics"), body.get("time")
    if type(node) is not str or not _name_ok(node) or type(metrics) is not dict \
            or type(stamp) is not str:
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    when = when.astimezone(UTC)
    rows: list[tuple[str, str, float]] = []
    for dev, values in metrics.items():
        if type(values) is not dict or not _name_ok(dev):
            return None
        for name, value in values.items():
            if type(value) not in (int, float) or not _name_ok(name) or not math.isfinite(value):
                return None
            rows.append((dev, name, float(value)))
    return (when, rows) if len(rows) <= MAX_ROWS else None


def _name_ok(value: str) -> bool:
    if value in _OK_NAMES:
        return True
    if len(value) > 128 or SEGMENT_RE.match(value) is None:
        return False
    if len(_OK_NAMES) >= 65536:  # bounded: a flood of new names only costs the regex again
        _OK_NAMES.clear()
    _OK_NAMES.add(value)
    return True


_OK_NAMES: set[str] = set()  # names that passed _name_ok (a cache of a pure function)
_TELEMETRY = "/telemetry"
_BULK = int(Priority.BULK)


def metric_rows(when: datetime, rows: Rows, now: float) -> list[Row]:
    """Outbox rows of telemetry readings, as ``Outbox.rows`` of their MetricRecords (same key,
    kind, priority, hour; a body that decodes to the same record)."""
    us = int(when.timestamp() * 1e6)
    hour = us // 3_600_000_000 * 3600
    dumps, utc_z = orjson.dumps, orjson.OPT_UTC_Z
    out: list[Row] = []
    for dev, name, value in rows:
        key = f"metric:{dev}:{name}:{us}"
        out.append((key, "metric", _BULK, hour, now, dumps(
            {"key": key, "device_id": dev, "time": when, "kind": "metric",
             "metric_name": name, "value": value}, option=utc_z)))
    return out


def _json_object(payload: bytes | bytearray, where: str) -> dict[str, Any]:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise PayloadError(f"{where}: payload is not JSON") from None
    if not isinstance(body, dict):
        raise PayloadError(f"{where}: payload must be a JSON object")
    return body


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
