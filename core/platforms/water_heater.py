"""``water_heater``: known to discovery only (its power payloads default to ``ON`` / ``OFF``); the
state is the rendered payload, no service yet."""

from __future__ import annotations

from spark.core.platforms.base import OnOffSchema, Platform


class WaterHeater(Platform):
    name = "water_heater"
    Schema = OnOffSchema
