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

from hub.events import (
    AvailabilityChanged,
    EntityAdded,
    EntityFired,
    EntityRemoved,
    EntityUpdated,
    HubEvent,
    NodeAvailability,
    StateChanged,
)
from hub.recorder.models import EntityMeta, as_number, describe

if TYPE_CHECKING:
    from hub.registry import Registry

UNAVAILABLE = "unavailable"
Row = tuple[str, dict[str, Any]]  # ("state" | "event", row)


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
        self.entities[entity_id] = {
            "entity_id": meta.entity_id, "platform": meta.platform, "name": meta.name,
            "device_id": meta.device_id, "unit": meta.unit, "device_class": meta.device_class,
            "state_class": meta.state_class, "created": when, "updated": when,
        }


def state_row(entity_id: str, state: str | None, attributes: dict[str, Any] | None,
              last_changed: float, last_updated: float) -> Row:
    return "state", {
        "entity_id": entity_id, "state": state, "state_num": as_number(state),
        # a copy: the registry keeps mutating its record's dict
        "attributes": dict(attributes) if attributes else None,
        "last_changed": last_changed, "last_updated": last_updated,
    }


def event_row(entity_id: str | None, event_type: str, data: dict[str, Any] | None,
              when: float) -> Row:
    return "event", {"entity_id": entity_id, "event_type": event_type[:64],
                     "data": dict(data) if data else None, "time": when}
