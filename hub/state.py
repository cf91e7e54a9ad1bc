"""How an incoming MQTT payload becomes an entity's state, attributes or availability.

The state follows Home Assistant's MQTT platforms, each in its own module under
``core/platforms/`` (``value_template`` first, then that platform's mapping); attributes and
availability are the same for every platform and live here.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from spark.core.errors import PayloadError, SparkError
from spark.core.platforms import IGNORE, Fired, platform_for
from spark.hub.entity import EntityRecord

log = logging.getLogger(__name__)

__all__ = ["IGNORE", "Fired", "combine_availability", "interpret_attributes",
           "interpret_availability", "interpret_state"]


def interpret_state(record: EntityRecord, payload: bytes) -> Any:
    """Return the new state string, ``None`` (unknown), ``IGNORE`` or a :class:`Fired` event.

    The entity's platform module (``core/platforms/<platform>.py``) decides.
    """
    return platform_for(record.spec.component).state(record, payload)


def interpret_attributes(record: EntityRecord, payload: bytes) -> dict[str, Any]:
    tpl = record.attr_tpl
    try:
        text: str | bytes = tpl.render(payload) if tpl is not None else payload
        data = orjson.loads(text)
    except (orjson.JSONDecodeError, SparkError) as exc:
        raise PayloadError(f"{record.entity_id}: attributes are not a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{record.entity_id}: attributes are not a JSON object")
    return data


def interpret_availability(record: EntityRecord, index: int, payload: bytes) -> bool | None:
    """Map an availability payload; None when it matches neither payload (ignored, as HA)."""
    spec = record.spec.availability[index]
    tpl = record.avail_tpls[index] if index < len(record.avail_tpls) else None
    value = tpl.render(payload) if tpl is not None else payload.decode("utf-8", "replace")
    if value == spec.payload_available:
        return True
    if value == spec.payload_not_available:
        return False
    return None


def combine_availability(record: EntityRecord) -> bool:
    """Apply ``availability_mode`` (all / any / latest) over the known topic values."""
    if not record.spec.availability:
        return True
    mode = record.spec.availability_mode
    values = record.avail_values
    if mode == "all":
        return all(v is True for v in values)
    if mode == "any":
        return any(v is True for v in values)
    return record.avail_latest is True
