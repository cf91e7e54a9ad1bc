"""Routing of state messages: which entities follow which topic (state, attributes,
availability, a platform's further state topics), exact topics by dictionary and wildcard
filters through :class:`~hub.routes.FilterIndex`, and each routed topic's last payload.

Memory: a 4,096-device install routes about 50,000 (topic, entity) pairs, so a route's key in
its topic's table is the entity's key itself for its state topic (no allocation) and otherwise
one int packing the record's identity, the route's kind and its index (a third of a tuple's
size); the routes are computed from the config when routing and unrouting, not stored.
"""

from __future__ import annotations

from collections.abc import Callable

from spark.core.discovery import DiscoveredEntity
from spark.core.platforms import platform_for
from spark.hub.entity import EntityRecord
from spark.hub.routes import FilterIndex, is_wildcard

# Route kinds (EXTRA: a platform's further state topic; its index is the position of the config
# key in the platform's ``state_topics``; AVAILABILITY: the index in ``availability``).
STATE, ATTRIBUTES, AVAILABILITY, EXTRA = 0, 1, 2, 3
_INDEX_BITS = 20  # an index below 2**20: availability lists are bounded by the payload size
_INDEX_MASK = (1 << _INDEX_BITS) - 1

Route = tuple[str, int, int]  # (topic, kind, index)
Hit = tuple[EntityRecord, int, int]  # (record, kind, index)
SubscribeFn = Callable[[list[str]], None]


def routes_of(spec: DiscoveredEntity) -> list[Route]:
    """(topic, kind, index) for every topic an entity follows."""
    out: list[Route] = []
    topic = spec.state_topic or spec.image_topic
    if topic:
        out.append((topic, STATE, 0))
    if spec.json_attributes_topic:
        out.append((spec.json_attributes_topic, ATTRIBUTES, 0))
    for i, avail in enumerate(spec.availability):
        out.append((avail.topic, AVAILABILITY, i))
    for i, key in enumerate(platform_for(spec.component).state_topics):
        topic = getattr(spec, key, None)
        if isinstance(topic, str) and topic:
            out.append((topic, EXTRA, i))
    return out


def _code(record: EntityRecord, kind: int, index: int) -> str | int:
    """A route's key in its topic's table (unique while the record is routed: the table holds
    the record, so its ``id`` is not reused)."""
    if kind == STATE:  # one state topic per entity
        return record.key
    return (id(record) << (_INDEX_BITS + 2)) | (kind << _INDEX_BITS) | (index & _INDEX_MASK)


def _hit(code: str | int, record: EntityRecord) -> Hit:
    if type(code) is str:
        return record, STATE, 0
    assert isinstance(code, int)
    return record, (code >> _INDEX_BITS) & 3, code & _INDEX_MASK


class Routing:
    """The routed topics of a registry; subscribes a topic when its first route comes and
    unsubscribes it when its last one goes."""

    def __init__(self, subscribe: SubscribeFn, unsubscribe: SubscribeFn) -> None:
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._table: dict[str, dict[str | int, EntityRecord]] = {}
        self._wild = FilterIndex()  # the routed topics that are wildcard filters
        # Last payload per routed topic: an entity that joins a topic others already follow
        # gets its current value at once (retained or not), as a fresh subscription would.
        self._last: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._table)

    def add(self, record: EntityRecord,
            routes_now: list[Route] | None = None) -> list[tuple[int, int, str, bytes]]:
        """Route ``record`` (on ``routes_now``: its :func:`routes_of`, if already computed);
        returns (kind, index, topic, payload) for each topic it joins that already has a last
        payload (to apply at once)."""
        new_topics: list[str] = []
        replay: list[tuple[int, int, str, bytes]] = []
        for topic, kind, index in routes_now if routes_now is not None else routes_of(record.spec):
            routes = self._table.get(topic)
            if routes is None:
                routes = self._table[topic] = {}
                new_topics.append(topic)
                if is_wildcard(topic):
                    self._wild.add(topic)
            else:
                last = self._last.get(topic)
                if last is not None:
                    replay.append((kind, index, topic, last))
            routes[_code(record, kind, index)] = record
        if new_topics:
            self._subscribe(new_topics)
        return replay

    def remove(self, record: EntityRecord) -> None:
        gone: list[str] = []
        for topic, kind, index in routes_of(record.spec):
            routes = self._table.get(topic)
            if routes is None:
                continue
            routes.pop(_code(record, kind, index), None)
            if not routes:
                del self._table[topic]
                self._last.pop(topic, None)
                self._wild.discard(topic)
                gone.append(topic)
        if gone:
            self._unsubscribe(gone)

    def forget(self, topic: str) -> None:
        """Keep no last payload for ``topic`` (nor the wildcard filters it matches): a
        picture is kept once, on its entity, within the hub's picture budget."""
        self._last.pop(topic, None)
        if len(self._wild):
            for topic_filter in self._wild.match(topic):
                self._last.pop(topic_filter, None)

    def take(self, topic: str, payload: bytes) -> list[Hit] | None:
        """The routes a message on ``topic`` reaches (its exact topic's, then every matching
        wildcard filter's; shared and wildcard state topics as HA subscribes them), keeping the
        payload as each one's last; None when it reaches none."""
        routes = self._table.get(topic)
        wild = self._wild.match(topic) if len(self._wild) else ()
        if routes is None and not wild:
            return None
        hits: list[Hit]
        if routes is not None:
            self._last[topic] = payload
            # hot path (every state message): a state route's hit built inline
            hits = [(record, STATE, 0) if type(code) is str else _hit(code, record)
                    for code, record in routes.items()]
        else:
            hits = []
        for topic_filter in wild:
            self._last[topic_filter] = payload
            hits.extend(_hit(code, record)
                        for code, record in self._table.get(topic_filter, {}).items())
        return hits
