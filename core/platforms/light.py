"""``light``: on/off like a switch; with ``schema: json`` the state and commands are JSON
(``{"state": "ON", "brightness": 120}``) and brightness, colour and effect become attributes."""

from __future__ import annotations

from typing import Any

import orjson

from spark.core.errors import PayloadError
from spark.core.platforms.base import IGNORE, Entity, OnOff, OnOffSchema, Words

JSON_ATTRIBUTES = ("brightness", "color_temp", "color_mode", "color", "effect")


class LightSchema(OnOffSchema):
    DEFAULTS = {**OnOffSchema.DEFAULTS, "schema": "basic"}
    REQUIRED = ("command_topic",)


def _json(entity: Entity) -> bool:
    return entity.spec.raw.get("schema") == "json"


class Light(OnOff):
    name = "light"
    Schema = LightSchema
    words = Words(listed=True, switchable=True, area_noun=True)

    def state(self, entity: Entity, payload: bytes) -> Any:
        if not _json(entity):
            return super().state(entity, payload)
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise PayloadError(f"{entity.entity_id}: JSON light payload is not JSON") from None
        if not isinstance(data, dict):
            raise PayloadError(f"{entity.entity_id}: JSON light payload is not an object")
        for key in JSON_ATTRIBUTES:
            if key in data:
                entity.attributes[key] = data[key]
        state = data.get("state")
        if state == "ON":
            return "on"
        if state == "OFF":
            return "off"
        return IGNORE if state is None else None

    def payload(self, entity: Entity, on: bool, data: dict[str, Any]) -> str:
        if not _json(entity):
            return super().payload(entity, on, data)
        body: dict[str, Any] = {"state": "ON" if on else "OFF"}
        if on and "brightness" in data:
            body["brightness"] = int(data["brightness"])
        return orjson.dumps(body).decode()
