"""One copy of what many discovery configs repeat: the device, origin and availability blocks
(a Zigbee2MQTT device announces five to thirty components, each with the same ``device``,
``origin`` and ``availability``), short values many configs repeat (device classes, units,
templates) and pydantic's record of which fields were set.

The registry keeps every entity's parsed config; without sharing, a 4,096-device install held
about 11 KB per entity, half of it copies of these blocks. Shared objects are never changed in
place (the registry replaces a config, it does not edit one), so sharing them is safe. The table
is bounded (least recently used first out) by the registry's entity limit.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from spark.core.discovery import DiscoveredEntity

SHARED_BLOCKS = ("device", "origin", "availability")
SHARED_STRINGS = frozenset({"device_class", "state_class", "unit_of_measurement",
                            "entity_category", "icon", "payload_on", "payload_off", "schema",
                            "platform", "mode", "encoding"})


class Sharing:
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._blocks: OrderedDict[bytes, tuple[Any, Any]] = OrderedDict()
        self._fields: dict[frozenset[str], set[str]] = {}
        self._strings: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    def share(self, spec: DiscoveredEntity) -> None:
        """Point ``spec``'s repeated blocks (parsed and raw) at the copies already held."""
        raw = spec.raw
        fields = spec.__dict__
        for name in SHARED_BLOCKS:
            raw_block = raw.get(name)
            if not raw_block:
                continue
            try:
                key = name.encode() + b"\0" + orjson.dumps(raw_block, option=orjson.OPT_SORT_KEYS)
            except TypeError:  # not JSON (cannot happen for a parsed payload): keep its own
                continue
            held = self._blocks.get(key)
            if held is None:
                self._blocks[key] = (fields.get(name), raw_block)
                if len(self._blocks) > self.max_items:
                    self._blocks.popitem(last=False)
                continue
            self._blocks.move_to_end(key)
            parsed, raw_held = held
            fields[name] = parsed  # (the pydantic field's value, without validate-on-assign)
            raw[name] = raw_held
        strings = self._strings
        for name, value in raw.items():  # repeated short values: one copy
            if (type(value) is str and len(value) <= 200
                    and (name in SHARED_STRINGS or name.endswith("_template"))):
                held_str = strings.get(value)
                if held_str is None:
                    if len(strings) < self.max_items:
                        strings[value] = value
                    continue
                raw[name] = held_str
                if fields.get(name) == held_str:
                    fields[name] = held_str
        names = spec.__pydantic_fields_set__
        frozen = frozenset(names)
        shared = self._fields.get(frozen)
        if shared is None:
            if len(self._fields) < 4096:  # a handful of shapes in practice; bounded anyway
                self._fields[frozen] = names
        else:
            object.__setattr__(spec, "__pydantic_fields_set__", shared)
