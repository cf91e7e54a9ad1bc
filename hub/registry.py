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

Its parts, each a module of ``hub/``: ``routing`` (which entities follow which topic),
``timers`` (``off_delay``, ``expire_after``), ``entity_ids`` (id allocation), ``triggers``
(device triggers and tags), ``devices`` (the device table), ``registry_guard`` (limits, the
discovery intake), ``sharing`` (one copy of what configs repeat); this module takes discovery
and applies state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
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
from spark.core.topics import TopicLayout
from spark.hub.devices import detach, device_for
from spark.hub.entity import Device, EntityRecord
from spark.hub.entity_ids import TRIGGERS, EntityIds
from spark.hub.registry_guard import (
    DiscoveryIntake,
    Incoming,
    Quota,
    RegistryFull,
    RegistryLimits,
    budget_error,
)
from spark.hub.routes import refused
from spark.hub.routing import ATTRIBUTES, EXTRA, STATE, Routing, SubscribeFn, routes_of
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
from spark.hub.timers import OffDelay, expire
from spark.hub.triggers import iso_time, trigger_dict

log = logging.getLogger(__name__)

__all__ = ["Registry", "RegistryLimits", "RegistryStats", "is_migrate", "iso_time",
           "trigger_dict"]

MAX_STATE = 255  # characters of a state, as Home Assistant's state machine (payloads are
# bounded before this, by the MQTT client's mqtt.max_payload)


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
        self.templates = templates or TemplateEngine()
        self.limits = limits or RegistryLimits()
        self.devices: dict[str, Device] = {}
        self.entities: dict[str, EntityRecord] = {}  # by entity_id
        # device triggers and tags (HA: not entities; each firing is an EntityFired event)
        self.triggers: dict[str, EntityRecord] = {}  # by their id (device_trigger.<...>)
        self._by_key: dict[str, EntityRecord] = {}  # by unique key
        # discovery topic -> its key (one entity) or keys (a device-based config); the topic
        # string is the spec's own ``discovery_topic`` (one copy per entity)
        self._by_discovery: dict[str, str | tuple[str, ...]] = {}
        self._routing = Routing(subscribe, unsubscribe)
        self._sharing = Sharing(self.limits.max_entities)  # one copy of repeated config blocks
        self._off_delay = OffDelay(self._timer_due)
        self._ids = EntityIds()
        self._quota = Quota(self.limits)
        self._intake = DiscoveryIntake(self._discover, self._intake_dropped,
                                       self.limits.max_discovery_bytes)
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
    def on_discovery(self, msg: Incoming) -> None:
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

    def _intake_dropped(self, msg: Incoming, why: str, limit: bool) -> None:
        if limit:  # hub.max_discovery_bytes: refused, as the entity limits refuse
            self.stats.entities_refused += 1
            self.stats.limit_reached = f"limit reached: {why}; refused {msg.topic[:80]!r}"
            return
        self.stats.discovery_errors += 1
        self.stats.last_error = f"{why}: dropped {msg.topic[:120]}"

    def _keys_of(self, discovery_topic: str) -> tuple[str, ...]:
        keys = self._by_discovery.get(discovery_topic, ())
        return (keys,) if isinstance(keys, str) else keys

    def _discover(self, msg: Incoming) -> None:
        raw_topic = msg.topic  # one string: the intake's, the config's and the tables' here
        topic = self.layout.parse_discovery(raw_topic)
        if topic is None:
            return
        if is_migrate(msg.payload):
            # HA's migrate_discovery handshake (HA >= 2024.11): this topic lets go of its
            # entities, which stay and wait for their config on the new topic; an empty
            # payload here afterwards removes nothing.
            released = self._keys_of(raw_topic)
            self._by_discovery.pop(raw_topic, None)
            for key in released:
                released_record = self._by_key.get(key)
                if released_record is not None:
                    released_record.owner = None
            if released:
                log.info("discovery of %d entity(ies) moves away from %s", len(released),
                         raw_topic)
            return
        try:
            errors: list[PayloadError] = []
            parsed = parse_discovery(topic, msg.payload, raw_topic=raw_topic, errors=errors)
        except PayloadError as exc:
            self.stats.discovery_errors += 1
            self.stats.last_error = str(exc)
            log.warning("ignored discovery config on %s: %s", raw_topic, exc)
            return
        for err in errors:
            self.stats.discovery_errors += 1
            log.warning("ignored component on %s: %s", raw_topic, err)
        keep: set[str] = set()
        if isinstance(parsed, list):
            for spec in parsed:
                if not isinstance(spec, DiscoveredEntity):
                    continue  # a component removal: it is simply not kept
                known = self._by_key.get(spec.key)
                owner = known.owner if known is not None else None
                if owner is not None and owner != raw_topic:
                    # as HA: an entity takes configs only from the topic it was discovered on
                    self.stats.discovery_errors += 1
                    log.warning("ignored a conflicting discovery config on %s for %s, which "
                                "%s announced (a move needs migrate_discovery first)",
                                raw_topic, spec.key[:80], owner)
                    continue
                try:
                    keep.add(self._upsert(spec))
                except RegistryFull:
                    self.stats.entities_refused += 1  # logged once per publisher
                except SparkError as exc:
                    self.stats.discovery_errors += 1
                    log.warning("ignored entity from %s: %s", raw_topic, exc)
        for key in set(self._keys_of(raw_topic)) - keep:
            self._remove(key)
        if not keep:
            self._by_discovery.pop(raw_topic, None)
            return
        # the topic string the kept entities' configs hold, rather than a copy per table (an
        # unchanged config re-announced after a migrate_discovery keeps its old topic's)
        owner = self._by_key[next(iter(keep))].spec.discovery_topic
        if owner != raw_topic:
            owner = raw_topic
        for key in keep:
            self._by_key[key].owner = owner
        self._by_discovery[owner] = next(iter(keep)) if len(keep) == 1 else tuple(keep)

    def _table(self, spec: DiscoveredEntity) -> dict[str, EntityRecord]:
        return self.triggers if spec.component in TRIGGERS else self.entities

    def _upsert(self, spec: DiscoveredEntity) -> str:
        key = spec.key
        old = self._by_key.get(key)
        if old is not None and old.spec.raw == spec.raw and old.spec.component == spec.component:
            return key  # unchanged retained config (re-announce): nothing to do
        routes = routes_of(spec)  # (before compact(): its fields read back more slowly after)
        for topic, _kind, _index in routes:
            why = refused(self.layout, topic)
            if why is not None:
                raise PayloadError(f"{key[:80]!r} may not follow topic {topic[:100]!r}: it {why}")
        try:
            publisher = self._quota.admit(key, spec) if old is None else None
        except RegistryFull as exc:
            self.stats.limit_reached = str(exc)
            raise
        self._sharing.share(spec)
        spec.compact()
        device = device_for(self.devices, spec)
        value_tpl = self.templates.compile(spec.value_template) if spec.value_template else None
        attr_tpl = (self.templates.compile(spec.json_attributes_template)
                    if spec.json_attributes_template else None)
        avail_tpls = self._sharing.same(tuple(
            self.templates.compile(a.value_template) if a.value_template else None
            for a in spec.availability))
        now = time.time()
        if old is not None:
            self._unroute(old)
            record = old
            record.spec = spec
            self._enable(record)  # a new config gets a new chance
            new_device = device.id if device else None
            if record.device_id != new_device:
                detach(self.devices, record.device_id, record.entity_id)
            record.device_id = new_device
            record.value_tpl, record.attr_tpl, record.avail_tpls = value_tpl, attr_tpl, avail_tpls
            record.tpls = None
            record.avail_values = [None] * len(spec.availability)
            record.available = combine_availability(record)
            event: Any = EntityUpdated(now, record.entity_id)
        else:
            record = EntityRecord(
                entity_id=self._ids.allocate(spec, device, self._table(spec)), key=key, spec=spec,
                device_id=device.id if device else None, value_tpl=value_tpl,
                attr_tpl=attr_tpl, avail_tpls=avail_tpls,
                avail_values=[None] * len(spec.availability), last_changed=now,
                last_updated=now, engine=self.templates,
            )
            record.available = combine_availability(record)
            self._table(spec)[record.entity_id] = record
            self._by_key[key] = record
            assert publisher is not None
            self._quota.charge(record, publisher)
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
            self._off_delay.cancel(record)
        else:
            for kind, index, topic, payload in self._routing.add(record, routes):
                self._apply(record, kind, index, topic, payload)
        self.bus.emit(event)
        return key

    def _unroute(self, record: EntityRecord) -> None:
        if not record.disabled_by_default:  # (a disabled entity was never routed)
            self._routing.remove(record)

    def _remove(self, key: str) -> None:
        record = self._by_key.pop(key, None)
        if record is None:
            return
        self._unroute(record)
        self._off_delay.cancel(record)
        self._table(record.spec).pop(record.entity_id, None)
        self.stats.disabled.pop(record.entity_id, None)
        self.stats.errors_by_entity.pop(record.entity_id, None)
        self._quota.release(record)
        if not self._quota.at_limit:
            self.stats.limit_reached = None
        detach(self.devices, record.device_id, record.entity_id)
        self.bus.emit(EntityRemoved(time.time(), record.entity_id))

    # ---- state ------------------------------------------------------------------------
    def on_message(self, msg: Message) -> None:
        topic = msg.topic
        payload = bytes(msg.payload)
        hits = self._routing.take(topic, payload)
        if hits is None:
            return
        self.stats.messages += 1
        for record, kind, index in hits:
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
            self._off_delay.set(record, delay[0], delay[1])
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

    def _timer_due(self, record: EntityRecord, state: str) -> None:
        """An ``off_delay`` ran out: the state it sets back to (if the entity is still ours)."""
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
        return expire(self.entities.values(), self.bus, now)

    def snapshot(self) -> dict[str, Any]:
        return {
            "devices": [d.as_dict() for d in self.devices.values()],
            "entities": [e.as_dict() for e in self.entities.values()],
            "triggers": [trigger_dict(t) for t in self.triggers.values()],
        }


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
