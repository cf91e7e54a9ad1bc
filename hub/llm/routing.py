"""The order a request tries the backends: pure, O(backends), no I/O (well under the seed's
2–5 ms budget).

    strategy      tiers
    edge-first    edge, cloud, api
    cloud-first   cloud, api, edge
    cloud-only    cloud, api
    edge-only     edge

The VPN down narrows any of them to the edge, and :class:`Route` says so (``note``). A request's
``prefer`` moves that tier to the front when the route has it. Within a tier, backends keep
their config order. Backends whose breaker is open are left out (``skipped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from spark.core.messages.llm import Strategy, Tier

ORDER: dict[str, tuple[Tier, ...]] = {
    "edge-first": ("edge", "cloud", "api"),
    "cloud-first": ("cloud", "api", "edge"),
    "cloud-only": ("cloud", "api"),
    "edge-only": ("edge",),
}


class Routable(Protocol):
    name: str
    tier: Tier

    def allows(self) -> bool: ...


@dataclass(slots=True)
class Route:
    order: list[str]  # backend names to try, in order
    skipped: list[str] = field(default_factory=list)  # on the route, breaker open
    note: str | None = None


def tiers_for(strategy: Strategy, vpn_up: bool | None,
              prefer: Tier | None) -> tuple[list[Tier], str | None]:
    tiers = list(ORDER[strategy])
    note = None
    if vpn_up is False:
        note = "VPN down: edge only"
        if strategy == "cloud-only":
            note = "VPN down: edge only (the power strategy is cloud-only)"
        tiers = ["edge"]
    if prefer is not None and prefer in tiers:
        tiers.remove(prefer)
        tiers.insert(0, prefer)
    return tiers, note


def route(backends: Sequence[Routable], strategy: Strategy, vpn_up: bool | None,
          prefer: Tier | None = None) -> Route:
    tiers, note = tiers_for(strategy, vpn_up, prefer)
    rank = {tier: i for i, tier in enumerate(tiers)}
    placed = sorted((b for b in backends if b.tier in rank), key=lambda b: rank[b.tier])
    result = Route([], [], note)
    for backend in placed:
        (result.order if backend.allows() else result.skipped).append(backend.name)
    return result
