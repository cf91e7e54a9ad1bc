"""The device and entity registry, built from Home Assistant discovery (ours and third-party).

Feed it discovery messages (:meth:`Registry.on_discovery`) and every other message on the
topics it asks for (:meth:`Registry.on_message`); it keeps devices, entities and live state, and
emits typed events on the hub's :class:`~core.events.EventBus`.

Discovery is untrusted, so the registry is bounded (:class:`RegistryLimits`: entities in total
and per publisher, a config over the limit is refused with one log line per publisher and the
``limit_reached`` diagnostic; the pictures camera and image entities keep share one
:class:`~spark.core.pictures.PictureBudget`), entity ids are allocated in amortised O(1) (a
counter per base id), routing a topic in or out costs O(its routes), discovery takes at most
``DISCOVERY_SLICE`` of each pass of the event loop (the rest waits, in order), and an entity
whose template runs out of its budget (``TemplateBudgetError``) is disabled: unavailable,
``template_error`` in its attributes, its messages skipped until its config changes.

Its parts, each a module of ``hub/``: ``routing`` (which entities follow which topic),
``timers`` (``off_delay``, ``expire_after``), ``entity_ids`` (id allocation), ``triggers``
(device triggers and tags), ``devices`` (the device table), ``registry_guard`` (limits, the
discovery intake), ``sharing`` (one copy of what configs repeat), ``registry_state`` (applying
state: :class:`~spark.hub.registry_state.RegistryState`, which the registry extends); this
module takes discovery.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError, SparkError
from spark.core.events import EntityAdded, EntityRemoved, EntityUpdated, EventBus
from spark.core.pictures import PictureBudget
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
)
from spark.hub.registry_state import RegistryState, RegistryStats
from spark.hub.routes import refused
from spark.hub.routing import Routing, SubscribeFn, routes_of
from spark.hub.sharing import Sharing
from spark.hub.state import combine_availability
from spark.hub.templates import TemplateEngine
from spark.hub.timers import Deferred, OffDelay
from spark.hub.triggers import iso_time, trigger_dict

log = logging.getLogger(__name__)

__all__ = ["Registry", "RegistryLimits", "RegistryStats", "is_migrate", "iso_time",
           "trigger_dict"]


class Registry(RegistryState):
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
        self._deferred = Deferred(self._retry)  # renders skipped for the time share
        self._ids = EntityIds()
        self._quota = Quota(self.limits)
        # the pictures camera / image entities keep, within hub.max_picture_bytes in total
        self.pictures = PictureBudget(self.limits.max_picture_bytes)
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
                last_updated=now, engine=self.templates, pictures=self.pictures,
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
        self.pictures.release(record)  # its picture's bytes are free
        if not self._quota.at_limit:
            self.stats.limit_reached = None
        detach(self.devices, record.device_id, record.entity_id)
        self.bus.emit(EntityRemoved(time.time(), record.entity_id))

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
