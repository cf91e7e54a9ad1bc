"""``/routing``: the LLM router's figures, kept live from the hub's event stream
(:class:`~core.events.LlmActivity`: an answer served, a backend failed or probed, the power
strategy or the VPN changed): the inputs that decide the order now (power strategy, VPN) and
the route they give; per backend its health (connected, probe latency), breaker, requests,
failures, p50/p95 latency and time to first token, tokens; the cache's hit rate.

Built once; each batch of events sets the labels' texts again (no element is rebuilt). A
backend's last error is network text: a label, clipped.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui
from starlette.responses import Response

from spark.core.events import HubEvent, LlmActivity
from spark.hub.llm.stats import BackendStats, RoutingStats
from spark.ui.assistant import NOT_CONFIGURED, clip, ms
from spark.ui.attrs import data
from spark.ui.live import Live
from spark.ui.pages.frame import CARD, GRID, frame, to_login
from spark.ui.panel import Panel

Getter = Callable[[RoutingStats], str]
BackendGetter = Callable[[BackendStats], str]


def vpn_text(stats: RoutingStats) -> str:
    state = {True: "up", False: "down", None: "unknown (treated as up)"}[stats.vpn_up]
    if stats.vpn_entity is None:
        return "not watched (llm.vpn_entity unset): assumed up"
    return f"{state} (from {stats.vpn_entity})"


def strategy_text(stats: RoutingStats) -> str:
    where = (f"from power node {stats.strategy_from}" if stats.strategy_from
             else "fixed: llm.power_node unset")
    return f"{stats.strategy} ({where})"


def route_text(stats: RoutingStats) -> str:
    order = " → ".join(stats.route) or "nothing available"
    return order + (f" ({stats.note})" if stats.note else "")


def cache_text(stats: RoutingStats) -> str:
    rate = "–" if stats.cache_hit_rate is None else f"{stats.cache_hit_rate:.0%}"
    return (f"{stats.cache_backend}: {stats.cache_hits} hits, {stats.cache_misses} misses, "
            f"hit rate {rate}")


def health_text(b: BackendStats) -> str:
    if b.healthy is None:
        return "not probed yet"
    return f"connected, probe {ms(b.probe_ms)}" if b.healthy else "down (last probe failed)"


def breaker_text(b: BackendStats) -> str:
    opened = f", opened {b.breaker_opened}×" if b.breaker_opened else ""
    return f"{b.breaker}{opened}"


SUMMARY: list[tuple[str, str, Getter]] = [
    ("strategy", "Power strategy", strategy_text),
    ("vpn", "VPN", vpn_text),
    ("route", "Order now", route_text),
    ("cache", "Cache", cache_text),
]
PER_BACKEND: list[tuple[str, str, BackendGetter]] = [
    ("health", "Health", health_text),
    ("breaker", "Breaker", breaker_text),
    ("requests", "Requests", lambda b: str(b.requests)),
    ("failures", "Failures", lambda b: str(b.failures)),
    ("served", "Served", lambda b: str(b.served)),
    ("latency", "Latency p50 / p95", lambda b: f"{ms(b.latency_p50_ms)} / {ms(b.latency_p95_ms)}"),
    ("ttft", "First token p50 / p95", lambda b: f"{ms(b.ttft_p50_ms)} / {ms(b.ttft_p95_ms)}"),
    ("tokens", "Tokens in / out", lambda b: f"{b.input_tokens} / {b.output_tokens}"),
    ("error", "Last error", lambda b: clip(b.last_error or "–", 300)[0]),
]


def register(panel: Panel) -> None:
    @ui.page("/routing")
    async def routing() -> Response | None:
        session = panel.session()
        principal = await session.principal()
        if principal is None:
            return to_login()
        llm = panel.hub.llm
        summary: dict[str, ui.label] = {}
        per_backend: dict[tuple[str, str], ui.label] = {}
        with frame(session, principal, "LLM routing"):
            if llm is None:
                with ui.card().classes(CARD):
                    data(ui.label(NOT_CONFIGURED).classes("text-warning"), "testid", "refused")
                return None
            stats = llm.stats()
            with ui.card().classes(CARD):
                with ui.row().classes("items-center w-full"):
                    ui.label("Routing").classes("font-semibold")
                    ui.space()
                    ui.link("Assistant", "/assistant").classes("text-sm")
                with ui.grid(columns="auto 1fr").classes("gap-x-4 gap-y-1 text-sm w-full"):
                    for key, title, _ in SUMMARY:
                        ui.label(title).classes("opacity-70")
                        summary[key] = data(ui.label("").classes("break-words min-w-0"),
                                            "stat", key)
            with ui.element("div").classes(GRID):
                for b in stats.backends:
                    with data(ui.card().classes(CARD), "backend", b.name):
                        ui.label(f"{b.name} · {b.tier} tier · {b.type}").classes(
                            "font-semibold")
                        with ui.grid(columns="auto 1fr").classes("gap-x-3 gap-y-1 text-sm"):
                            for key, title, _ in PER_BACKEND:
                                ui.label(title).classes("opacity-70")
                                per_backend[b.name, key] = data(
                                    ui.label("").classes("break-words min-w-0"),
                                    "stat", f"{b.name}:{key}")

        def fill() -> None:
            now = llm.stats()
            for key, _, get in SUMMARY:
                summary[key].set_text(get(now))
            for b in now.backends:
                for key, _, get_b in PER_BACKEND:
                    label = per_backend.get((b.name, key))
                    if label is not None:
                        label.set_text(get_b(b))

        def on_events(batch: list[HubEvent]) -> None:
            fill()

        fill()
        Live(panel.hub.bus, (LlmActivity,), on_events)
        return None
