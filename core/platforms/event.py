"""``event``: a JSON payload with a declared ``event_type`` fires an event (the state becomes
its time, the rest of the payload its attributes)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import model_validator

from spark.core.discovery.models import DiscoveredEntity
from spark.core.errors import PayloadError
from spark.core.platforms.base import Entity, Fired, Platform


class EventSchema(DiscoveredEntity):
    NOT_INHERITED = frozenset({"command_topic"})  # read-only in HA
    REQUIRED = ("state_topic", "event_types")

    @model_validator(mode="after")
    def _types(self) -> EventSchema:
        if not self.event_types:
            raise ValueError("event needs a non-empty 'event_types'")
        return self


class Event(Platform):
    name = "event"
    Schema = EventSchema
    display = "event"

    def state(self, entity: Entity, payload: bytes) -> Any:
        tpl = entity.value_tpl
        text = tpl.render(payload) if tpl is not None else payload
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise PayloadError(f"{entity.entity_id}: event payload is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("event_type"), str):
            raise PayloadError(f"{entity.entity_id}: event payload needs an 'event_type'")
        types = entity.spec.event_types
        if types and data["event_type"] not in types:
            raise PayloadError(
                f"{entity.entity_id}: event_type {data['event_type']!r} not declared")
        return Fired(data.pop("event_type"), data)
