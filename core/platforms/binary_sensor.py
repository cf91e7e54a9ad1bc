"""``binary_sensor``: a read-only on/off state (payloads default to ``ON`` / ``OFF``)."""

from __future__ import annotations

from spark.core.platforms.base import OnOffState, Words


class BinarySensor(OnOffState):
    name = "binary_sensor"
    words = Words(listed=True)
