"""The registry's state half: each message on a routed topic applied to the entities that
follow it (state, extra state topics, attributes, availability), an optimistic entity's assumed
state, ``off_delay`` and ``expire_after``, and an entity whose template ran out of budget taken
out of service. :class:`~spark.hub.registry.Registry` takes discovery and builds on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spark.core.errors import PayloadError, SparkError
from spark.core.events import AvailabilityChanged, EntityFired, EventBus, StateChanged
from spark.core.mqtt import Message
from spark.core.platforms import platform_for
from spark.hub.entity import EntityRecord
from spark.hub.entity_ids import TRIGGERS
from spark.hub.registry_guard import budget_error, busy_error
from spark.hub.routing import ATTRIBUTES, EXTRA, STATE, Routing
from spark.hub.state import (
    IGNORE,
    Fired,
    combine_availability,
    interpret_attributes,
    interpret_availability,
    interpret_state,
)
from spark.hub.templates import TemplateBudgetError
from spark.hub.timers import Deferred, OffDelay, expire
from spark.hub.triggers import iso_time

log = logging.getLogger("spark.hub.registry")  # the registry's log lines keep their name

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


class RegistryState:
    """The state half of :class:`~spark.hub.registry.Registry` (a mixin: the registry's
    ``__init__`` sets every attribute below)."""

    if TYPE_CHECKING:
        bus: EventBus
        entities: dict[str, EntityRecord]
        stats: RegistryStats
        _by_key: dict[str, EntityRecord]
        _routing: Routing
        _off_delay: OffDelay
        _deferred: Deferred

    def on_message(self, msg: Message) -> None:
        topic = msg.topic
        payload = bytes(msg.payload)
        hits = self._routing.take(topic, payload)
        if hits is None:
            return
        self.stats.messages += 1
        for record, kind, index in hits:
            self._apply(record, kind, index, topic, payload)

    def pending(self, record: EntityRecord) -> bool:
        """Does a message for ``record`` wait for its render (skipped for the time share)?"""
        return self._deferred.holds(record)

    def _retry(self, items: list[tuple[EntityRecord, int, int, str, bytes]]) -> None:
        for record, kind, index, topic, payload in items:
            if self._by_key.get(record.key) is record:  # not removed or replaced meanwhile
                self._apply(record, kind, index, topic, payload)

    def _apply(self, record: EntityRecord, kind: int, index: int, topic: str,
               payload: bytes) -> None:
        if record.entity_id in self.stats.disabled:
            return  # its template ran out of budget: skipped until its config changes
        self._deferred.discard(record, kind, index)  # this message is newer
        try:
            if kind == STATE:
                self._apply_state(record, topic, payload)
            elif kind == EXTRA:
                self._apply_extra(record, index, topic, payload)
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
            over = budget_error(exc)
            if over is not None:
                self.stats.rejected += 1
                self._disable(record, topic, over)
                return
            if busy_error(exc) is not None:
                # slow templates (others') used the time share: not this message's fault,
                # applied again shortly (the latest per route), never lost
                self._deferred.add(record, kind, index, topic, payload)
                return
            self.stats.rejected += 1
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

    def _apply_extra(self, record: EntityRecord, index: int, topic: str, payload: bytes) -> None:
        platform = platform_for(record.spec.component)
        if platform.display == "image":
            self._routing.forget(topic)  # a picture is kept once: on the entity, in its budget
        key = platform.state_topics[index]
        before = dict(record.attributes) if platform.state_attributes else None
        new = platform.topic_state(record, key, payload)
        self._commit(record, _bounded(record, new), before)

    def _apply_state(self, record: EntityRecord, topic: str, payload: bytes) -> None:
        platform = platform_for(record.spec.component)
        if platform.display == "image":
            self._routing.forget(topic)  # a picture is kept once: on the entity, in its budget
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


def _bounded(record: EntityRecord, new: Any) -> Any:
    """A state from the network, refused when longer than HA's 255 characters (HA logs an
    error and keeps the old state)."""
    if isinstance(new, str) and len(new) > MAX_STATE:
        raise PayloadError(f"{record.entity_id}: a state of {len(new)} characters; at most "
                           f"{MAX_STATE}")
    return new
