"""Wildcard subscriptions of the registry: which subscribed filters (``+`` / ``#``) a topic
matches, in time that grows with the topic's levels, not with the number of filters.

A publisher such as OpenMQTTGateway announces ``state_topic: +/+/BTtoMQTT/AABBCC``; Home
Assistant subscribes to the filter and hands every matching message to the entity. The
registry routes exact topics by dictionary and asks this index for the wildcard ones.

Which topics a discovery config may make the hub follow (:func:`refused`): the hub's broker
account reads everything, and what it follows becomes an entity's state, shown to every panel
viewer and recorded. So a publisher may not aim it at what is not a device's state: ``$``
topics (``$SYS``, ``$share/...`` would join a shared subscription and take messages away from
its members), a filter that matches every topic (``#``, ``+/#``, ...) or has more than
:data:`MAX_WILD_LEVELS` levels, the discovery configs
(``<prefix>/<component>/[<node>/]<object>/config``), the hub's RPC requests and answers
(``<base>/<node>/request|response/<account>/<method>``: questions, alarm codes) and our
nodes' command topics (``<base>/<node>/<entity>/set``: codes sent with commands). Home Assistant
follows whatever it is given; OpenMQTTGateway's ``+/+/BTtoMQTT/<mac>`` is not refused.
"""

from __future__ import annotations

from spark.core.topics import TopicLayout

# Levels of a wildcard filter: matching a topic walks the trie level by level, so a filter of
# 30,000 '+' levels made each message on a matching topic cost ~25 ms (real ones have < 10).
MAX_WILD_LEVELS = 32


class _Node:
    __slots__ = ("children", "filters")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.filters: set[str] = set()  # filters that end at this node


class FilterIndex:
    """A trie of MQTT topic filters (MQTT 3.1.1 section 4.7 matching rules)."""

    def __init__(self) -> None:
        self._root = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, topic_filter: str) -> None:
        node = self._root
        for level in topic_filter.split("/"):
            node = node.children.setdefault(level, _Node())
        if topic_filter not in node.filters:
            node.filters.add(topic_filter)
            self._count += 1

    def discard(self, topic_filter: str) -> None:
        path: list[tuple[_Node, str]] = []
        node = self._root
        for level in topic_filter.split("/"):
            child = node.children.get(level)
            if child is None:
                return
            path.append((node, level))
            node = child
        if topic_filter not in node.filters:
            return
        node.filters.discard(topic_filter)
        self._count -= 1
        for parent, level in reversed(path):  # prune empty branches
            child = parent.children[level]
            if child.filters or child.children:
                break
            del parent.children[level]

    def match(self, topic: str) -> list[str]:
        """The filters ``topic`` matches (a ``$`` topic matches no filter starting with a
        wildcard)."""
        if not self._count:
            return []
        levels = topic.split("/")
        out: list[str] = []
        dollar = topic.startswith("$")
        stack: list[tuple[_Node, int]] = [(self._root, 0)]
        while stack:
            node, i = stack.pop()
            first = i == 0 and dollar
            hash_node = None if first else node.children.get("#")
            if hash_node is not None:  # '#' also matches the parent level itself
                out.extend(hash_node.filters)
            if i == len(levels):
                out.extend(node.filters)
                continue
            child = node.children.get(levels[i])
            if child is not None:
                stack.append((child, i + 1))
            plus = None if first else node.children.get("+")
            if plus is not None:
                stack.append((plus, i + 1))
        return out


def is_wildcard(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def overlap(a: str, b: str) -> bool:
    """True when some topic matches both filters ``a`` and ``b`` (neither a ``$`` filter)."""
    pa, pb = a.split("/"), b.split("/")
    for i in range(max(len(pa), len(pb))):
        x = pa[i] if i < len(pa) else None
        y = pb[i] if i < len(pb) else None
        if x == "#" or y == "#":
            return True
        if x is None or y is None:
            return False
        if x != "+" and y != "+" and x != y:
            return False
    return True


def refused(layout: TopicLayout, topic_filter: str) -> str | None:
    """Why a discovery config may not make the hub follow ``topic_filter`` (see the module
    docstring); None when it may."""
    if topic_filter.startswith("$"):
        return "is a broker topic ($...)"
    base, prefix = layout.base, layout.prefix
    wild = is_wildcard(topic_filter)
    if not wild and not any(topic_filter == root or topic_filter.startswith(root + "/")
                            for root in (base, prefix)):
        return None  # an exact topic outside ours (most: 40,960 cost ~80 ms here, not ~300)
    levels = topic_filter.split("/")
    if levels[-1] == "#" and all(level == "+" for level in levels[:-1]):
        return "matches every topic"
    if len(levels) > MAX_WILD_LEVELS and wild:
        return f"is a wildcard filter of {len(levels)} levels (at most {MAX_WILD_LEVELS})"
    private = [(f"{prefix}/+/+/config", "matches discovery configs"),
               (f"{prefix}/+/+/+/config", "matches discovery configs"),
               (f"{base}/+/request/+/+", "matches the hub's RPC requests"),
               (f"{base}/+/response/+/+", "matches the hub's RPC answers"),
               (f"{base}/+/+/set", "matches our nodes' command topics")]
    for pattern, why in private:
        if overlap(topic_filter, pattern):
            return why
    return None


__all__ = ["FilterIndex", "is_wildcard", "overlap", "refused"]
