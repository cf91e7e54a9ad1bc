"""Wildcard subscriptions of the registry: which subscribed filters (``+`` / ``#``) a topic
matches, in time that grows with the topic's levels, not with the number of filters.

A publisher such as OpenMQTTGateway announces ``state_topic: +/+/BTtoMQTT/AABBCC``; Home
Assistant subscribes to the filter and hands every matching message to the entity. The
registry routes exact topics by dictionary and asks this index for the wildcard ones.
"""

from __future__ import annotations


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


__all__ = ["FilterIndex", "is_wildcard"]
