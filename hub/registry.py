"""The device and entity registry, built from Home Assistant discovery (ours and third-party).

Feed it discovery messages (:meth:`Registry.on_discovery`) and every other message on the
topics it asks for (:meth:`Registry.on_message`); it keeps devices, entities and live state, and
emits typed events on the hub's :class:`~core.events.EventBus`.

Discovery is untrusted, so the registry is bounded (:class:`RegistryLimits`: entities in total
and per publisher, a config over the limit is refused with one log line per publisher and the
``limit_reached`` diagnostic), entity ids are allocated in amortised O(1) (a counter per base
id), routing a topic in or out costs O(its routes), discovery takes at most ``DISCOVERY_SLICE``
of each pass of the event loop (the rest waits, in order), and an entity whose template runs out
of its budget (``TemplateBudgetError``) is disabled: unavailable, ``template_error`` in its
attributes, its messages skipped until its config changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError, SparkError
from spark.core.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityFired,
    EntityRemoved,
    EntityUpdated,
    EventBus,
    StateChanged,
)
from spark.core.mqtt import Message
from spark.core.platforms import platform_for
from spark.core.slug import slugify
from spark.core.topics import TopicLayout
from spark.hub.entity import Device, EntityRecord
from spark.hub.registry_guard import (
    DiscoveryIntake,
    RegistryFull,
    RegistryLimits,
    budget_error,
    publisher_of,
)
from spark.hub.routes import FilterIndex, is_wildcard, refused
from spark.hub.sharing import Sharing
from spark.hub.state import (
    IGNORE,
    Fired,
    combine_availability,
    interpret_attributes,
    interpret_availability,
    interpret_state,
)
from spark.hub.templates import TemplateBudgetError, TemplateEngine

log = logging.getLogger(__name__)

# Platforms whose configs are not entities (HA: device triggers and tag scanners), and the
# prefix of their ids.
TRIGGERS = {"device_automation": "device_trigger", "tag": "tag"}

# Route kinds for a subscribed topic (EXTRA: a platform's further state topic; its index is the
# position of the config key in the platform's ``state_topics``).
STATE, ATTRIBUTES, AVAILABILITY, EXTRA = 0, 1, 2, 3
MAX_STATE = 255  # characters of a state, as Home Assistant's state machine (payloads are
# bounded before this, by the MQTT client's mqtt.max_payload)

SubscribeFn = Callable[[list[str]], None]
RouteKey = tuple[str, int, int]  # entity key, route kind, availability index


@dataclass(slots=True)
class RegistryStats:
    messages: int = 0
    state_changes: int = 0
    rejected: int = 0
    discovery_errors: int = 0
    last_error: str | None = None
    errors_by_entity: dict[str, str] = field(default_factory=dict)
    entities_refused: int = 0  # discovery configs refused by RegistryLimits
    limit_reached: str | None = None  # the latest limit hit, None while none is reached
    disabled: dict[str, str] = field(default_factory=dict)  # entity id -> template error


class Registry:
    def __init__(
        self,
        layout: TopicLayout,
        bus: EventBus,
        subscribe: SubscribeFn,
        unsubscribe: SubscribeFn,
        templates: TemplateEngine | None = None,
        limits: RegistryLimits | None = None,
    ) -> None:
        self.layout = layout
        self.bus = bus
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self.templates = templates or TemplateEngine()
        self.limits = limits or RegistryLimits()
        self.devices: dict[str, Device] = {}
        self.entities: dict[str, EntityRecord] = {}  # by entity_id
        # device triggers and tags (HA: not entities; each firing is an EntityFired event)
        self.triggers: dict[str, EntityRecord] = {}  # by their id (device_trigger.<...>)
        self._by_key: dict[str, EntityRecord] = {}  # by unique key
        self._by_discovery: dict[str, tuple[str, ...]] = {}  # discovery topic -> keys
        self._owner: dict[str, str] = {}  # key -> the discovery topic that owns it (as in HA)
        self._routes: dict[str, dict[RouteKey, EntityRecord]] = {}
        self._wild = FilterIndex()  # the routed topics that are wildcard filters
        self._sharing = Sharing(self.limits.max_entities)  # one copy of repeated config blocks
        self._timers: dict[str, asyncio.TimerHandle] = {}  # key -> off_delay timer
        self._next_suffix: dict[str, int] = {}  # wanted entity id -> next "_<n>" to try
        self._publisher: dict[str, str] = {}  # key -> publisher_of(spec)
        self._per_publisher: Counter[str] = Counter()
        self._at_limit: set[str] = set()  # publishers (and "*" for the total) logged at limit
        self._intake = DiscoveryIntake(self._discover, self._intake_dropped,
                                       self.limits.max_discovery_bytes)
        # Last payload per routed topic: an entity that joins a topic others already follow
        # gets its current value at once (retained or not), as a fresh subscription would.
        self._last: dict[str, bytes] = {}
        self.stats = RegistryStats()

    # ---- queries ----------------------------------------------------------------------
    def get(self, entity_id: str) -> EntityRecord | None:
        return self.entities.get(entity_id)

    def by_unique_id(self, unique_id: str) -> EntityRecord | None:
        return self._by_key.get(unique_id)

    def entities_of(self, device_id: str) -> list[EntityRecord]:
        device = self.devices.get(device_id)
        if device is None:
            return []
        return [self.entities[e] for e in sorted(device.entities) if e in self.entities]

    # ---- discovery --------------------------------------------------------------------
    def on_discovery(self, msg: Message) -> None:
        """Take a discovery message: now, or (once this pass of the event loop has spent
        ``DISCOVERY_SLICE`` on discovery) in a later pass, keeping the order."""
        self._intake.take(msg)

    @property
    def discovery_backlog(self) -> int:
        """Discovery messages waiting for a later pass of the event loop."""
        return len(self._intake)

    @property
    def discovery_bytes(self) -> int:
        """Bytes of the discovery configs held (``RegistryLimits.max_discovery_bytes``)."""
        return self._intake.held

    def _intake_dropped(self, msg: Message, why: str, limit: bool) -> None:
        if limit:  # hub.max_discovery_bytes: refused, as the entity limits refuse
            self.stats.entities_refused += 1
            self.stats.limit_reached = f"limit reached: {why}; refused {msg.topic[:80]!r}"
            return
        self.stats.discovery_errors += 1
        self.stats.last_error = f"{why}: dropped {msg.topic[:120]}"

    def _discover(self, msg: Message) -> None:
        topic = self.layout.parse_discovery(msg.topic)
        if topic is None:
            return
        if is_migrate(msg.payload):
            # HA's migrate_discovery handshake (HA >= 2024.11): this topic lets go of its
            # entities, which stay and wait for their config on the new topic; an empty
            # payload here afterwards removes nothing.
            released = self._by_discovery.pop(msg.topic, ())
            for key in released:
                self._owner.pop(key, None)
            if released:
                log.info("discovery of %d entity(ies) moves away from %s", len(released),
                         msg.topic)
            return
        try:
            errors: list[PayloadError] = []
            parsed = parse_discovery(topic, msg.payload, raw_topic=msg.topic, errors=errors)
        except PayloadError as exc:
            self.stats.discovery_errors += 1
            self.stats.last_error = str(exc)
            log.warning("ignored discovery config on %s: %s", msg.topic, exc)
            return
        for err in errors:
            self.stats.discovery_errors += 1
            log.warning("ignored component on %s: %s", msg.topic, err)
        keep: set[str] = set()
        if isinstance(parsed, list):
            for spec in parsed:
                if not isinstance(spec, DiscoveredEntity):
                    continue  # a component removal: it is simply not kept
                owner = self._owner.get(spec.key)
                if owner is not None and owner != msg.topic:
                    # as HA: an entity takes configs only from the topic it was discovered on
                    self.stats.discovery_errors += 1
                    log.warning("ignored a conflicting discovery config on %s for %s, which "
                                "%s announced (a move needs migrate_discovery first)",
                                msg.topic, spec.key[:80], owner)
                    continue
                try:
                    keep.add(self._upsert(msg.topic, spec))
                except RegistryFull:
                    self.stats.entities_refused += 1  # logged once per publisher
                except SparkError as exc:
                    self.stats.discovery_errors += 1
                    log.warning("ignored entity from %s: %s", msg.topic, exc)
        for key in set(self._by_discovery.get(msg.topic, ())) - keep:
            self._remove(key)
        for key in keep:
            self._owner[key] = msg.topic
        if keep:
            self._by_discovery[msg.topic] = tuple(keep)
        else:
            self._by_discovery.pop(msg.topic, None)

    def _table(self, spec: DiscoveredEntity) -> dict[str, EntityRecord]:
        return self.triggers if spec.component in TRIGGERS else self.entities

    def _entity_id(self, spec: DiscoveredEntity, device: Device | None) -> str:
        platform = spec.component
        taken = self._table(spec)
        wanted: str
        if platform in TRIGGERS:
            raw = spec.raw
            parts = [device.name if device and device.name else "",
                     *(str(raw.get(k) or "") for k in ("type", "subtype"))]
            base = "_".join(p for p in parts if p) or spec.object_id or platform
            wanted = f"{TRIGGERS[platform]}.{slugify(base)}"
        elif spec.default_entity_id and "." in spec.default_entity_id:
            wanted = f"{platform}.{slugify(spec.default_entity_id.split('.', 1)[1])}"
        else:
            parts = [device.name if device and device.name else "", spec.name or ""]
            base = "_".join(p for p in parts if p) or spec.unique_id or spec.object_id or "entity"
            wanted = f"{platform}.{slugify(base)}"
        if wanted not in taken:
            return wanted
        # amortised O(1): the counter only grows, so each suffix is tried at most once per base
        n = self._next_suffix.get(wanted, 2)
        candidate = f"{wanted}_{n}"
        while candidate in taken:
            n += 1
            candidate = f"{wanted}_{n}"
        self._next_suffix[wanted] = n + 1
        return candidate

    def _admit(self, key: str, spec: DiscoveredEntity) -> str:
        """The publisher a new entity counts against; ``RegistryFull`` when a limit is hit."""
        publisher = publisher_of(spec)
        limits = self.limits
        if len(self._by_key) >= limits.max_entities:
            self._limit_hit("*", f"the registry has {len(self._by_key)} entities "
                            f"(hub.max_entities = {limits.max_entities})", key)
        if self._per_publisher[publisher] >= limits.max_entities_per_publisher:
            self._limit_hit(publisher, f"publisher {publisher!r} has "
                            f"{self._per_publisher[publisher]} entities "
                            f"(hub.max_entities_per_publisher = "
                            f"{limits.max_entities_per_publisher})", key)
        return publisher

    def _limit_hit(self, who: str, why: str, key: str) -> None:
        self.stats.limit_reached = f"limit reached: {why}; refused {key[:80]!r}"
        if who not in self._at_limit:  # one line per publisher until it drops below again
            self._at_limit.add(who)
            log.error("registry limit reached: %s; further discovery configs are refused "
                      "(raise the limit in the hub config if this is expected)", why)
        raise RegistryFull(self.stats.limit_reached)

    def _device(self, spec: DiscoveredEntity) -> Device | None:
        desc = spec.device
        if desc is None:
            return None
        ids = [str(i) for i in desc.identifiers] or [f"{a}:{b}" for a, b in desc.connections]
        if not ids:
            return None
        device = None
        for ident in ids:
            device = self.devices.get(ident)
            if device is not None:
                break
        if device is None:
            device = Device(id=ids[0])
            self.devices[device.id] = device
        if desc.connections:
            device.connections = sorted({(str(a), str(b)) for a, b in desc.connections}
                                        | set(device.connections))
        for attr in ("name", "manufacturer", "model", "model_id", "sw_version", "hw_version",
                     "serial_number", "suggested_area", "via_device", "configuration_url"):
            value = getattr(desc, attr, None)
            if value is not None:
                setattr(device, attr, value)
        device.identifiers = sorted(set(device.identifiers) | set(ids))
        return device

    def _upsert(self, discovery_topic: str, spec: DiscoveredEntity) -> str:
        key = spec.key
        old = self._by_key.get(key)
        if old is not None and old.spec.raw == spec.raw and old.spec.component == spec.component:
            return key  # unchanged retained config (re-announce): nothing to do
        for topic, _kind, _index in self._routes_of(spec):
            why = refused(self.layout, topic)
            if why is not None:
                raise PayloadError(f"{key[:80]!r} may not follow topic {topic[:100]!r}: it {why}")
        publisher = self._admit(key, spec) if old is None else None
        self._sharing.share(spec)
        spec.compact()
        device = self._device(spec)
        value_tpl = self.templates.compile(spec.value_template) if spec.value_template else None
        attr_tpl = (self.templates.compile(spec.json_attributes_template)
                    if spec.json_attributes_template else None)
        avail_tpls = [self.templates.compile(a.value_template) if a.value_template else None
                      for a in spec.availability]
        now = time.time()
        if old is not None:
            self._unroute(old)
            record = old
            record.spec = spec
            self._enable(record)  # a new config gets a new chance
            new_device = device.id if device else None
            if record.device_id != new_device and record.device_id in self.devices:
                was = self.devices[record.device_id]
                was.entities.discard(record.entity_id)
                was.triggers.discard(record.entity_id)
                if not was.entities and not was.triggers:
                    del self.devices[was.id]
            record.device_id = new_device
            record.value_tpl, record.attr_tpl, record.avail_tpls = value_tpl, attr_tpl, avail_tpls
            record.tpls = None
            record.avail_values = [None] * len(spec.availability)
            record.available = combine_availability(record)
            event: Any = EntityUpdated(now, record.entity_id)
        else:
            record = EntityRecord(
                entity_id=self._entity_id(spec, device), key=key, spec=spec,
                device_id=device.id if device else None, value_tpl=value_tpl,
                attr_tpl=attr_tpl, avail_tpls=avail_tpls,
                avail_values=[None] * len(spec.availability), last_changed=now,
                last_updated=now, engine=self.templates,
            )
            record.available = combine_availability(record)
            self._table(spec)[record.entity_id] = record
            self._by_key[key] = record
            assert publisher is not None
            self._publisher[key] = publisher
            self._per_publisher[publisher] += 1
            event = EntityAdded(now, record.entity_id, spec.component, record.device_id)
        record.disabled_by_default = not spec.enabled_by_default
        if old is None and spec.expire_after:  # HA: expired (unavailable) until a first value
            record.expired, record.available = True, False
        if not record.disabled_by_default:  # HA's start state (a climate's off), if any
            initial = platform_for(spec.component).initial(record)
            if initial is not None:
                record.state = initial
        if device is not None:
            (device.triggers if spec.component in TRIGGERS else device.entities).add(
                record.entity_id)
        if record.disabled_by_default:  # HA: registered, disabled: no subscription, no state
            record.state = None
            self._cancel_timer(record)
        else:
            self._route(record)
        self.bus.emit(event)
        return key

    @staticmethod
    def _routes_of(spec: DiscoveredEntity) -> list[tuple[str, int, int]]:
        """(topic, kind, index) for every topic an entity follows (computed from its config
        both when routing and unrouting, rather than stored per entity)."""
        out: list[tuple[str, int, int]] = []
        topic = spec.state_topic or spec.image_topic
        if topic:
            out.append((topic, STATE, 0))
        if spec.json_attributes_topic:
            out.append((spec.json_attributes_topic, ATTRIBUTES, 0))
        for i, avail in enumerate(spec.availability):
            out.append((avail.topic, AVAILABILITY, i))
        for i, key in enumerate(platform_for(spec.component).state_topics):
            topic = getattr(spec, key, None)
            if isinstance(topic, str) and topic:
                out.append((topic, EXTRA, i))
        return out

    def _route(self, record: EntityRecord) -> None:
        new_topics: list[str] = []
        replay: list[tuple[str, int, int]] = []
        for topic, kind, index in self._routes_of(record.spec):
            routes = self._routes.get(topic)
            if routes is None:
                routes = self._routes[topic] = {}
                new_topics.append(topic)
                if is_wildcard(topic):
                    self._wild.add(topic)
            elif topic in self._last:
                replay.append((topic, kind, index))
            routes[(record.key, kind, index)] = record
        if new_topics:
            self._subscribe(new_topics)
        for topic, kind, index in replay:
            self._apply(record, kind, index, topic, self._last[topic])

    def _unroute(self, record: EntityRecord) -> None:
        if record.disabled_by_default:
            return  # never routed
        gone: list[str] = []
        for topic, kind, index in self._routes_of(record.spec):
            routes = self._routes.get(topic)
            if routes is None:
                continue
            routes.pop((record.key, kind, index), None)
            if not routes:
                del self._routes[topic]
                self._last.pop(topic, None)
                self._wild.discard(topic)
                gone.append(topic)
        if gone:
            self._unsubscribe(gone)

    def _remove(self, key: str) -> None:
        self._owner.pop(key, None)
        record = self._by_key.pop(key, None)
        if record is None:
            return
        self._unroute(record)
        self._cancel_timer(record)
        self._table(record.spec).pop(record.entity_id, None)
        self.stats.disabled.pop(record.entity_id, None)
        self.stats.errors_by_entity.pop(record.entity_id, None)
        publisher = self._publisher.pop(key, None)
        if publisher is not None:
            self._per_publisher[publisher] -= 1
            if self._per_publisher[publisher] <= 0:
                del self._per_publisher[publisher]
            if self._per_publisher[publisher] < self.limits.max_entities_per_publisher:
                self._at_limit.discard(publisher)
        if len(self._by_key) < self.limits.max_entities:
            self._at_limit.discard("*")
        if not self._at_limit:
            self.stats.limit_reached = None
        device = self.devices.get(record.device_id or "")
        if device is not None:
            device.entities.discard(record.entity_id)
            device.triggers.discard(record.entity_id)
            if not device.entities and not device.triggers:
                del self.devices[device.id]
        self.bus.emit(EntityRemoved(time.time(), record.entity_id))

    # ---- state ------------------------------------------------------------------------
    def on_message(self, msg: Message) -> None:
        topic = msg.topic
        routes = self._routes.get(topic)
        wild = self._wild.match(topic) if len(self._wild) else ()
        if routes is None and not wild:
            return
        self.stats.messages += 1
        payload = bytes(msg.payload)
        if routes is not None:
            self._last[topic] = payload
            for (_, kind, index), record in tuple(routes.items()):
                self._apply(record, kind, index, topic, payload)
        for topic_filter in wild:  # shared and wildcard state topics (HA subscribes the filter)
            self._last[topic_filter] = payload
            for (_, kind, index), record in tuple(self._routes.get(topic_filter, {}).items()):
                self._apply(record, kind, index, topic, payload)

    def _apply(self, record: EntityRecord, kind: int, index: int, topic: str,
               payload: bytes) -> None:
        if record.entity_id in self.stats.disabled:
            return  # its template ran out of budget: skipped until its config changes
        try:
            if kind == STATE:
                self._apply_state(record, payload)
            elif kind == EXTRA:
                self._apply_extra(record, index, payload)
            elif kind == ATTRIBUTES:
                data = interpret_attributes(record, payload)
                blocked = platform_for(record.spec.component).blocked_attributes
                if blocked:  # HA: json_attributes may not overwrite what the platform sets
                    data = {k: v for k, v in data.items() if k not in blocked}
                record.attributes.update(data)
                record.last_updated = time.time()
            else:
                self._apply_availability(record, index, payload)
        except (PayloadError, SparkError, UnicodeDecodeError) as exc:
            self.stats.rejected += 1
            over = budget_error(exc)
            if over is not None:
                self._disable(record, topic, over)
                return
            self.stats.last_error = str(exc)
            if record.entity_id not in self.stats.errors_by_entity:
                log.warning("rejected payload on %s: %s", topic, exc)
            self.stats.errors_by_entity[record.entity_id] = str(exc)
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            # A platform's arithmetic on a device's numbers (1e308, a 400-digit int) must not
            # end the routing of this message: the other entities on a shared topic still
            # get it. Logged once per entity, with the traceback (it is a bug to fix).
            self.stats.rejected += 1
            self.stats.last_error = f"{record.entity_id}: {type(exc).__name__}: {exc}"[:300]
            if record.entity_id not in self.stats.errors_by_entity:
                log.exception("payload on %s broke %s's platform; dropped", topic,
                              record.entity_id)
            self.stats.errors_by_entity[record.entity_id] = self.stats.last_error

    def _disable(self, record: EntityRecord, topic: str, exc: TemplateBudgetError) -> None:
        """Take an entity whose template ran out of budget out of service, visibly."""
        why = f"template disabled: {exc}"[:300]
        self.stats.disabled[record.entity_id] = why
        self.stats.last_error = why
        log.error("entity %s disabled (message on %s): %s; publish a new discovery config to "
                  "enable it again", record.entity_id, topic, why)
        record.attributes = {**record.attributes, "template_error": why}
        record.last_updated = time.time()
        if record.available:
            record.available = False
            self.bus.emit(AvailabilityChanged(record.last_updated, record.entity_id, False))

    def _enable(self, record: EntityRecord) -> None:
        if self.stats.disabled.pop(record.entity_id, None) is not None:
            record.attributes = {k: v for k, v in record.attributes.items()
                                 if k != "template_error"}

    def _apply_extra(self, record: EntityRecord, index: int, payload: bytes) -> None:
        platform = platform_for(record.spec.component)
        key = platform.state_topics[index]
        before = dict(record.attributes) if platform.state_attributes else None
        new = platform.topic_state(record, key, payload)
        self._commit(record, _bounded(record, new), before)

    def _apply_state(self, record: EntityRecord, payload: bytes) -> None:
        platform = platform_for(record.spec.component)
        before = dict(record.attributes) if platform.state_attributes else None
        new = interpret_state(record, payload)
        self._commit(record, _bounded(record, new), before)

    def assume(self, record: EntityRecord, state: str | None, attributes: dict[str, Any],
               memo: dict[str, Any] | None = None) -> None:
        """An optimistic entity takes the state and attributes a command set (HA's
        ``optimistic``: no state topic, or ``optimistic: true``; ``state`` None keeps it), and
        the platform's ``memo``."""
        if memo:
            record.memo.update(memo)
        before = dict(record.attributes)
        record.attributes.update(attributes)
        self._commit(record, IGNORE if state is None else state, before)

    def _commit(self, record: EntityRecord, new: Any, before: dict[str, Any] | None) -> None:
        now = time.time()
        if new is IGNORE:
            record.last_updated = now
            if before is not None and before != record.attributes:
                record.last_updated = now
                if not self.bus.idle:
                    self.bus.emit(StateChanged(now, record.entity_id, record.state,
                                               record.state, record.attributes))
            return
        if isinstance(new, Fired):
            data = new.data
            if record.spec.component in TRIGGERS and record.device_id:
                data = {**data, "device_id": record.device_id}
            record.state = iso_time(now)  # HA: an event entity's state is its last firing time
            record.attributes = {"event_type": new.event_type, **data}
            record.last_changed = record.last_updated = now
            self.bus.emit(EntityFired(now, record.entity_id, new.event_type, data))
            return
        record.last_updated = now
        delay = platform_for(record.spec.component).revert_after(record, new)
        if delay is not None:  # off_delay: back to "off" that long after the last "on"
            self._set_timer(record, delay[0], delay[1])
        if record.spec.expire_after:
            record.expires_at = now + record.spec.expire_after
            if record.expired:
                record.expired = False
                record.available = combine_availability(record)
                if record.available:
                    self.bus.emit(AvailabilityChanged(now, record.entity_id, True))
        old = record.state
        if new == old:
            if before is not None and before != record.attributes and not self.bus.idle:
                self.bus.emit(StateChanged(now, record.entity_id, old, new, record.attributes))
            elif record.spec.force_update and not self.bus.idle:  # HA: a state_changed anyway
                record.last_changed = now
                self.bus.emit(StateChanged(now, record.entity_id, old, new, record.attributes))
            return
        record.state = new
        record.last_changed = now
        self.stats.state_changes += 1
        if not self.bus.idle:
            self.bus.emit(StateChanged(now, record.entity_id, old, new, record.attributes))

    # ---- timers (off_delay) -------------------------------------------------------------
    def _set_timer(self, record: EntityRecord, seconds: float, state: str) -> None:
        """``state`` in ``seconds`` unless another message resets it (HA's ``off_delay``);
        without a running event loop (a script) the timer is not kept."""
        self._cancel_timer(record)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timers[record.key] = loop.call_later(seconds, self._timer_due, record, state)

    def _cancel_timer(self, record: EntityRecord) -> None:
        handle = self._timers.pop(record.key, None)
        if handle is not None:
            handle.cancel()

    def _timer_due(self, record: EntityRecord, state: str) -> None:
        self._timers.pop(record.key, None)
        if self._by_key.get(record.key) is record:
            self._commit(record, state, None)

    def _apply_availability(self, record: EntityRecord, index: int, payload: bytes) -> None:
        value = interpret_availability(record, index, payload)
        if value is None:
            return
        record.avail_values[index] = value
        record.avail_latest = value
        available = combine_availability(record) and not record.expired
        if available != record.available:
            record.available = available
            self.bus.emit(AvailabilityChanged(time.time(), record.entity_id, available))

    def expire(self, now: float | None = None) -> int:
        """Mark entities whose ``expire_after`` passed as unavailable; returns how many."""
        now = time.time() if now is None else now
        count = 0
        for record in self.entities.values():
            if record.expires_at is not None and record.expires_at <= now:
                # expired even while unavailable: an availability "online" later must not
                # bring back the stale value (HA's timer runs regardless)
                record.expires_at = None
                record.expired = True
                if record.available:
                    record.available = False
                    count += 1
                    self.bus.emit(AvailabilityChanged(now, record.entity_id, False))
        return count

    def snapshot(self) -> dict[str, Any]:
        return {
            "devices": [d.as_dict() for d in self.devices.values()],
            "entities": [e.as_dict() for e in self.entities.values()],
            "triggers": [trigger_dict(t) for t in self.triggers.values()],
        }


def trigger_dict(record: EntityRecord) -> dict[str, Any]:
    """A device trigger or tag scanner as the API lists it."""
    raw = record.spec.raw
    return {"id": record.entity_id, "platform": record.spec.component,
            "device_id": record.device_id, "type": raw.get("type"), "subtype": raw.get("subtype"),
            "topic": raw.get("topic"), "payload": raw.get("payload"),
            "last_fired": record.state}


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def is_migrate(payload: bytes | bytearray) -> bool:
    """``{"migrate_discovery": true}`` (or ``migr_discvry``), HA's handshake payload."""
    if not payload or len(payload) > 64 or payload.lstrip()[:1] != b"{":
        return False
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and len(body) == 1 \
        and (body.get("migrate_discovery") is True or body.get("migr_discvry") is True)


def _bounded(record: EntityRecord, new: Any) -> Any:
    """A state from the network, refused when longer than HA's 255 characters (HA logs an
    error and keeps the old state)."""
    if isinstance(new, str) and len(new) > MAX_STATE:
        raise PayloadError(f"{record.entity_id}: a state of {len(new)} characters; at most "
                           f"{MAX_STATE}")
    return new
