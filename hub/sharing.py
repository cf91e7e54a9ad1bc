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
                            "platform", "mode", "encoding", "availability_mode",
                            "payload_available", "payload_not_available", "automation_type",
                            "type", "subtype"})
# Values one device's configs repeat (its topics, the node id of its discovery topics, the
# names Zigbee2MQTT gives every device's "Battery"): one copy while a device's configs arrive
# (they come together), from a small table of the latest ones.
NEARBY_FIELDS = ("component", "node_id", "object_id")
NEARBY_RAW = frozenset({"name", "availability_topic"})
NEARBY_ITEMS = 1024


class Sharing:
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._blocks: OrderedDict[bytes, tuple[Any, Any]] = OrderedDict()
        self._fields: dict[frozenset[str], set[str]] = {}
        self._strings: dict[str, str] = {}
        self._nearby: OrderedDict[str, str] = OrderedDict()
        self._tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}

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
            if type(value) is not str or len(value) > 200:
                continue
            if name in SHARED_STRINGS or name.endswith("_template"):
                held_str = strings.get(value)
                if held_str is None:
                    if len(strings) < self.max_items:
                        strings[value] = value
                    continue
            elif name in NEARBY_RAW or name.endswith("_topic"):
                held_str = self._near(value)
            else:
                continue
            raw[name] = held_str
            if fields.get(name) == held_str:
                fields[name] = held_str
        for name in NEARBY_FIELDS:
            value = fields.get(name)
            if type(value) is str and len(value) <= 200:
                fields[name] = self._near(value)
        names = spec.__pydantic_fields_set__
        frozen = frozenset(names)
        shared = self._fields.get(frozen)
        if shared is None:
            if len(self._fields) < 4096:  # a handful of shapes in practice; bounded anyway
                self._fields[frozen] = names
        else:
            object.__setattr__(spec, "__pydantic_fields_set__", shared)

    def _near(self, value: str) -> str:
        """The copy of ``value`` the latest configs hold, if any (least recently used out)."""
        nearby = self._nearby
        held = nearby.get(value)
        if held is not None:
            nearby.move_to_end(value)
            return held
        nearby[value] = value
        if len(nearby) > NEARBY_ITEMS:
            nearby.popitem(last=False)
        return value

    def same(self, items: tuple[Any, ...]) -> tuple[Any, ...]:
        """One copy of a tuple many entities hold (their compiled availability templates: the
        same few for every device of a publisher); the table is bounded as the blocks are."""
        held = self._tuples.get(items)
        if held is not None:
            return held
        if len(self._tuples) < self.max_items:
            self._tuples[items] = items
        return items
