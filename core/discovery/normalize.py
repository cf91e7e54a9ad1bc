"""Turn a raw discovery payload into Home Assistant's long form.

Mirrors ``homeassistant/components/mqtt/discovery.py``: abbreviations are expanded at the top
level, in ``device``, ``origin``, every ``availability`` item and every ``components`` entry, and
the topic base ``~`` is substituted at the start or end of every ``*topic`` value. Pure: the input
is never modified.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spark.core.discovery.abbreviations import (
    ABBREVIATIONS,
    DEVICE_ABBREVIATIONS,
    ORIGIN_ABBREVIATIONS,
)
from spark.core.errors import PayloadError

TOPIC_BASE = "~"


def _expand(config: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, Any]:
    """Long keys first, then abbreviated ones, so an abbreviation wins a clash (as in HA)."""
    out = {key: value for key, value in config.items() if key not in table}
    for key, value in config.items():
        if key in table:
            out[table[key]] = value
    return out


def _expand_availability(config: dict[str, Any]) -> None:
    avty = config.get("availability")
    if isinstance(avty, Mapping):
        config["availability"] = _expand(avty, ABBREVIATIONS)
    elif isinstance(avty, list):
        config["availability"] = [
            _expand(item, ABBREVIATIONS) if isinstance(item, Mapping) else item for item in avty
        ]


def _with_base(value: str, base: str) -> str:
    new = value
    if value.startswith(TOPIC_BASE):
        new = base + new[1:]
    if len(value) > 1 and value.endswith(TOPIC_BASE):
        new = new[:-1] + base
    return new


def _replace_topic_base(config: dict[str, Any], base: Any) -> None:
    if not isinstance(base, str):
        raise PayloadError(f"'~' (topic base) must be a string, got {type(base).__name__}")
    for key, value in config.items():
        if key.endswith("topic") and isinstance(value, str) and value:
            config[key] = _with_base(value, base)
    avty = config.get("availability")
    items = [avty] if isinstance(avty, dict) else avty if isinstance(avty, list) else []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("topic"), str) and item["topic"]:
            item["topic"] = _with_base(item["topic"], base)


def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """Expand abbreviations and resolve ``~`` in a discovery config; return a new dict.

    In a device-based payload a component without its own ``~`` uses the device-level one.
    Values of the wrong shape are left for validation to report.
    """
    out = _expand(config, ABBREVIATIONS)
    if isinstance(out.get("device"), Mapping):
        out["device"] = _expand(out["device"], DEVICE_ABBREVIATIONS)
    if isinstance(out.get("origin"), Mapping):
        out["origin"] = _expand(out["origin"], ORIGIN_ABBREVIATIONS)
    _expand_availability(out)

    base = out.pop(TOPIC_BASE, None)
    if base is not None:
        _replace_topic_base(out, base)

    components = out.get("components")
    if isinstance(components, Mapping):
        expanded: dict[str, Any] = {}
        for component_id, component in components.items():
            if not isinstance(component, Mapping):
                expanded[component_id] = component
                continue
            comp = _expand(component, ABBREVIATIONS)
            _expand_availability(comp)
            comp_base = comp.pop(TOPIC_BASE, base)
            if comp_base is not None:
                _replace_topic_base(comp, comp_base)
            expanded[component_id] = comp
        out["components"] = expanded
    return out
