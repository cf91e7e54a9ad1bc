"""Untrusted text on elements: as attribute values only.

``element.props("key=value")`` parses its argument (quotes, ``:`` keys evaluated as JavaScript),
so a device's id or name must never be formatted into it; :func:`data` sets the value in the
props dict, which the browser receives as a plain attribute value.
"""

from __future__ import annotations

from typing import TypeVar

from nicegui.element import Element

E = TypeVar("E", bound=Element)


def data(element: E, name: str, value: object) -> E:
    """Set the attribute ``data-<name>`` to ``str(value)`` (``name`` is ours, never untrusted)."""
    element.props[f"data-{name}"] = str(value)
    return element
