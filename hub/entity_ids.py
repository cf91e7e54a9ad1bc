"""Entity ids as Home Assistant makes them from a config (``<platform>.<device>_<name>``, or the
config's ``default_entity_id`` / ``object_id``; device triggers and tags get
``device_trigger.<device>_<type>_<subtype>`` / ``tag.<...>``), made unique with ``_2``, ``_3`` ...
in amortised O(1): a counter per wanted id. At most 255 characters, cut as HA's entity registry
cuts them (``async_generate_entity_id``: the wanted id cut to 255, a suffixed one cut to leave
room for its ``_<n>``)."""

from __future__ import annotations

from collections.abc import Container

from spark.core.discovery import DiscoveredEntity
from spark.core.slug import slugify
from spark.hub.entity import Device

# Platforms whose configs are not entities (HA: device triggers and tag scanners), and the
# prefix of their ids.
TRIGGERS = {"device_automation": "device_trigger", "tag": "tag"}
MAX_ENTITY_ID = 255  # HA's MAX_LENGTH_STATE_ENTITY_ID


def wanted_id(spec: DiscoveredEntity, device: Device | None) -> str:
    """The id a config asks for, before uniqueness."""
    platform = spec.component
    device_name = device.name if device and device.name else ""
    if platform in TRIGGERS:
        raw = spec.raw
        parts = [device_name, *(str(raw.get(k) or "") for k in ("type", "subtype"))]
        base = "_".join(p for p in parts if p) or spec.object_id or platform
        return f"{TRIGGERS[platform]}.{slugify(base)}"
    if spec.default_entity_id and "." in spec.default_entity_id:
        return f"{platform}.{slugify(spec.default_entity_id.split('.', 1)[1])}"
    base = "_".join(p for p in (device_name, spec.name or "") if p) \
        or spec.unique_id or spec.object_id or "entity"
    return f"{platform}.{slugify(base)}"


class EntityIds:
    def __init__(self) -> None:
        self._next_suffix: dict[str, int] = {}  # wanted entity id -> next "_<n>" to try

    def allocate(self, spec: DiscoveredEntity, device: Device | None,
                 taken: Container[str]) -> str:
        """A new entity's id: the wanted one, else the first free ``<wanted>_<n>``."""
        wanted = wanted_id(spec, device)[:MAX_ENTITY_ID]
        if wanted not in taken:
            return wanted
        # amortised O(1): the counter only grows, so each suffix is tried at most once per base
        n = self._next_suffix.get(wanted, 2)
        candidate = suffixed(wanted, n)
        while candidate in taken:
            n += 1
            candidate = suffixed(wanted, n)
        self._next_suffix[wanted] = n + 1
        return candidate


def suffixed(wanted: str, n: int) -> str:
    """``<wanted>_<n>``, the wanted part cut so that the whole stays within 255 characters."""
    suffix = f"_{n}"
    return f"{wanted[:MAX_ENTITY_ID - len(suffix)]}{suffix}"
