"""The steps light cases are written in: a config, then messages from the device (``M``),
service calls with the messages HA publishes for them (``C``) and expectations (``E``).

Attribute expectations compare like HA's ``state.attributes.get(key)``: ``None`` also matches a
missing key; tuples and lists are the same. JSON payloads (dicts) compare parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ANY: Any = object()  # an expectation that does not check the state


@dataclass(frozen=True)
class Case:
    id: str
    config: dict[str, Any]
    steps: tuple[tuple[Any, ...], ...]
    source: str = ""  # the HA test it comes from
    tags: tuple[str, ...] = field(default=())


def M(sub: str, payload: str | bytes) -> tuple[Any, ...]:
    """A message from the device on ``~/<sub>``."""
    return ("msg", sub, payload.encode() if isinstance(payload, str) else payload)


def C(service: str, data: dict[str, Any] | None = None, *sent: tuple[str, Any]
      ) -> tuple[Any, ...]:
    """A service call and the messages HA publishes for it, in HA's order."""
    return ("call", service, data or {}, sent)


def E(state: Any = ANY, **attrs: Any) -> tuple[Any, ...]:
    """The state and attributes expected now."""
    return ("expect", state, attrs)
