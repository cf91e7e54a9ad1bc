"""Hub events -> history rows (``states`` / ``events`` dicts and ``entities`` metadata).

What is recorded:
- ``StateChanged``: a state row (``state_num`` set when the state is a finite number).
- ``AvailabilityChanged``: going unavailable is a state row ``unavailable``; coming back after
  that records the entity's current state again (its retained state may not change, so no
  ``StateChanged`` would end the unavailable span).
- ``EntityFired`` (doorbell, button press ...): an event row with the fired ``event_type``.
- ``EntityAdded`` / ``EntityRemoved``: ``entity_added`` / ``entity_removed`` event rows;
  ``NodeAvailability``: ``node_online`` / ``node_offline`` (no entity id, data ``node_id``).
- Entity metadata (platform, unit, device class ...) is upserted on add and update, and the
  first time an entity's state is seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from spark.core.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityFired,
    EntityRemoved,
    EntityUpdated,
    HubEvent,
    NodeAvailability,
    StateChanged,
)
from spark.hub.recorder.models import EntityMeta, as_number, describe

if TYPE_CHECKING:
    from spark.hub.registry import Registry

UNAVAILABLE = "unavailable"
STATE_COLUMNS = ("entity_id", "state", "state_num", "attributes", "last_changed", "last_updated")
EVENT_COLUMNS = ("entity_id", "event_type", "data", "time")
Row = tuple[str, tuple[Any, ...]]  # ("state" | "event", values in the columns' order)


class RowBuilder:
    def __init__(self, registry: Callable[[], Registry | None] | None,
                 excluded: Callable[[str], bool], entities: dict[str, dict[str, Any]]) -> None:
        self._registry = registry
        self._excluded = excluded
        self._known: set[str] = set()  # entities whose metadata was queued
        self._unavailable: set[str] = set()  # last recorded as unavailable
        self.entities = entities  # metadata rows waiting for a batch, by entity id

    def build(self, event: HubEvent) -> list[Row]:
        if isinstance(event, StateChanged):
            eid = event.entity_id
            if self._excluded(eid):
                return []
            if eid not in self._known:
                self._meta(eid, event.time)
            self._unavailable.discard(eid)
            return [state_row(eid, event.new_state, event.attributes, event.time, event.time)]
        if isinstance(event, AvailabilityChanged):
            return self._availability(event)
        if isinstance(event, EntityFired):
            if self._excluded(event.entity_id):
                return []
            return [event_row(event.entity_id, event.event_type, event.data, event.time)]
        if isinstance(event, EntityAdded | EntityUpdated):
            if self._excluded(event.entity_id):
                return []
            self._meta(event.entity_id, event.time)
            if isinstance(event, EntityAdded):
                data = {"platform": event.platform, "device_id": event.device_id}
                return [event_row(event.entity_id, "entity_added", data, event.time)]
            return []
        if isinstance(event, EntityRemoved):
            self._known.discard(event.entity_id)
            self._unavailable.discard(event.entity_id)
            if self._excluded(event.entity_id):
                return []
            return [event_row(event.entity_id, "entity_removed", {}, event.time)]
        if isinstance(event, NodeAvailability):
            kind = "node_online" if event.online else "node_offline"
            return [event_row(None, kind, {"node_id": event.node_id}, event.time)]
        return []

    def _availability(self, event: AvailabilityChanged) -> list[Row]:
        eid = event.entity_id
        if self._excluded(eid):
            return []
        if not event.available:
            if eid in self._unavailable:
                return []
            if eid not in self._known:
                self._meta(eid, event.time)
            self._unavailable.add(eid)
            return [state_row(eid, UNAVAILABLE, None, event.time, event.time)]
        if eid not in self._unavailable:
            return []  # first availability after discovery: the state row follows
        self._unavailable.discard(eid)
        record = self._record(eid)
        if record is None:
            return []
        return [state_row(eid, record.state, record.attributes, event.time, event.time)]

    def _record(self, entity_id: str) -> Any:
        registry = self._registry() if self._registry is not None else None
        return registry.get(entity_id) if registry is not None else None

    def _meta(self, entity_id: str, when: float) -> None:
        registry = self._registry() if self._registry is not None else None
        record = registry.get(entity_id) if registry is not None else None
        meta: EntityMeta | None = None
        if registry is not None and record is not None:
            device = registry.devices.get(record.device_id or "")
            meta = describe(record, device.name if device is not None else None)
        if meta is None:
            meta = EntityMeta(entity_id, entity_id.split(".", 1)[0])
        self._known.add(entity_id)
        self.entities[entity_id] = {  # third-party discovery: cut to the column sizes
            "entity_id": meta.entity_id, "platform": _cut(meta.platform, 32),
            "name": _cut(meta.name, 255), "device_id": _cut(meta.device_id, 255),
            "unit": _cut(meta.unit, 32), "device_class": _cut(meta.device_class, 64),
            "state_class": _cut(meta.state_class, 32), "created": when, "updated": when,
        }


def _cut(value: str | None, size: int) -> str | None:
    return value if value is None or len(value) <= size else value[:size]


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL (SQLite could, but both stores get the same)
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _json(value: dict[str, Any] | None) -> str | None:
    # serialized now: the registry keeps mutating its record's dict
    if not value:
        return None
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text.replace("\\u0000", "\\ufffd") if "\\u0000" in text else text  # jsonb: no NUL


def state_row(entity_id: str, state: str | None, attributes: dict[str, Any] | None,
              last_changed: float, last_updated: float) -> Row:
    """A ``states`` row in :data:`STATE_COLUMNS` order."""
    return "state", (entity_id, _text(state), as_number(state), _json(attributes),
                     last_changed, last_updated)


def event_row(entity_id: str | None, event_type: str, data: dict[str, Any] | None,
              when: float) -> Row:
    """An ``events`` row in :data:`EVENT_COLUMNS` order."""
    return "event", (entity_id, _text(event_type[:64]), _json(data), when)
