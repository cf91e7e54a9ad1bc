"""How an incoming MQTT payload becomes an entity's state, attributes or availability.

Follows Home Assistant's MQTT platforms: ``value_template`` first, then per-platform mapping
(``payload_on``/``state_on`` -> ``"on"``, ``"None"`` -> unknown, numeric sensors ignore ``''``,
event payloads carry ``event_type``, JSON-schema lights carry ``{"state": "ON"}``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from spark.core.errors import PayloadError, SparkError
from spark.hub.entity import EntityRecord

log = logging.getLogger(__name__)

IGNORE = object()  # the payload leaves the state unchanged
ON_OFF_PLATFORMS = frozenset({"binary_sensor", "switch", "light", "fan", "siren", "humidifier"})


@dataclass(slots=True)
class Fired:
    event_type: str
    data: dict[str, Any]


def _render(record: EntityRecord, payload: bytes) -> str:
    tpl = record.value_tpl
    if tpl is not None:
        return tpl.render(payload)
    return payload.decode("utf-8", errors="replace")


def interpret_state(record: EntityRecord, payload: bytes) -> Any:
    """Return the new state string, ``None`` (unknown), ``IGNORE`` or a :class:`Fired` event."""
    spec = record.spec
    platform = spec.component
    if platform == "event":
        return _event(record, payload)
    if platform == "light" and (spec.raw.get("schema") == "json"):
        return _json_light(record, payload)
    try:
        value = _render(record, payload)
    except SparkError as exc:
        raise PayloadError(f"value_template of {record.entity_id}: {exc}") from None
    if platform in ON_OFF_PLATFORMS:
        on = spec.state_on if spec.state_on is not None else spec.payload_on
        off = spec.state_off if spec.state_off is not None else spec.payload_off
        if value == on:
            return "on"
        if value == off:
            return "off"
        if value in ("None", ""):
            return None
        raise PayloadError(
            f"{record.entity_id}: payload {value[:40]!r} is neither {on!r} nor {off!r}"
        )
    if value == "None":
        return None
    if platform == "sensor":
        numeric = bool(spec.unit_of_measurement or spec.state_class)
        if value == "" and (numeric or spec.device_class not in (None, "enum")):
            return IGNORE
        if numeric and spec.device_class not in ("enum", "timestamp", "date"):
            try:
                float(value)
            except ValueError:
                raise PayloadError(
                    f"{record.entity_id}: {value[:40]!r} is not numeric "
                    f"(unit {spec.unit_of_measurement!r})"
                ) from None
        if spec.options and value not in spec.options:
            raise PayloadError(f"{record.entity_id}: {value[:40]!r} not in options")
    elif platform == "number":
        try:
            float(value)
        except ValueError:
            raise PayloadError(f"{record.entity_id}: {value[:40]!r} is not a number") from None
    elif platform == "select" and spec.options and value not in spec.options:
        raise PayloadError(f"{record.entity_id}: {value[:40]!r} not in options")
    elif platform == "image":
        record.image = payload
        return IGNORE
    return value


def _event(record: EntityRecord, payload: bytes) -> Fired:
    tpl = record.value_tpl
    text = tpl.render(payload) if tpl is not None else payload
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise PayloadError(f"{record.entity_id}: event payload is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("event_type"), str):
        raise PayloadError(f"{record.entity_id}: event payload needs an 'event_type'")
    types = record.spec.event_types
    if types and data["event_type"] not in types:
        raise PayloadError(f"{record.entity_id}: event_type {data['event_type']!r} not declared")
    return Fired(data.pop("event_type"), data)


def _json_light(record: EntityRecord, payload: bytes) -> Any:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise PayloadError(f"{record.entity_id}: JSON light payload is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{record.entity_id}: JSON light payload is not an object")
    for key in ("brightness", "color_temp", "color_mode", "color", "effect"):
        if key in data:
            record.attributes[key] = data[key]
    state = data.get("state")
    if state == "ON":
        return "on"
    if state == "OFF":
        return "off"
    return IGNORE if state is None else None


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
