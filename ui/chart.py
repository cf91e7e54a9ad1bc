"""The entity page's history chart as ECharts options, from recorded states.

A state holds from its timestamp until the next change, and the last one until now. On/off and
text states are drawn as an explicit step line: each state is a horizontal segment
``[t_i, state_i] -> [t_next, state_i]`` and the change a vertical one. ECharts' own ``step``
option is not used: with a category y axis ECharts takes y as the base axis and ``"end"``
then draws every interval with the *next* state.

Everything here is data: strings from devices (states, units) reach the chart only as series
values and axis names, drawn on the canvas; the tooltip renders as rich text, never HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spark.hub.recorder import StatePoint

MIN_WINDOW = 10.0  # seconds: the least span drawn (a single state is not a two-day chart)
FEW = 40  # with fewer points each one is marked
UNKNOWN = "unknown"


def window(points: Sequence[StatePoint], start: float, now: float) -> tuple[float, float]:
    """The x range: from a little before the first state to now, at least :data:`MIN_WINDOW`
    wide, never before ``start`` (the range picked)."""
    if not points:
        return start, now
    first = max(points[0].time, start)
    pad = max(0.05 * (now - first), 1.0)
    return max(start, min(first - pad, now - MIN_WINDOW)), now


def state_steps(points: Sequence[StatePoint], start: float, now: float
                ) -> list[list[Any]]:
    """``[[ms, state], ...]``: every state held from its time (clamped to ``start``) until the
    next one, the last until ``now``."""
    out: list[list[Any]] = []
    for i, point in enumerate(points):
        begin = max(point.time, start)
        end = points[i + 1].time if i + 1 < len(points) else now
        end = max(end, begin)
        state = point.state if point.state is not None else UNKNOWN
        out.append([begin * 1000, state])
        out.append([end * 1000, state])
    return out


def number_line(points: Sequence[StatePoint], start: float, now: float) -> list[list[Any]]:
    """``[[ms, value], ...]`` of the numeric states; the last value held until ``now``; a
    state that is not a number breaks the line (``None``)."""
    out: list[list[Any]] = []
    for point in points:
        out.append([max(point.time, start) * 1000, point.value])
    if out and out[-1][1] is not None:
        out.append([now * 1000, out[-1][1]])
    return out


def chart_options(numeric: bool, points: Sequence[StatePoint], unit: str | None,
                  start: float, now: float) -> dict[str, Any]:
    lo, hi = window(points, start, now)
    if numeric:
        data = number_line(points, start, now)
        y: dict[str, Any] = {"type": "value", "scale": True, "name": unit or "",
                             "splitLine": {"lineStyle": {"color": "#333"}}}
    else:
        data = state_steps(points, start, now)
        states = list(dict.fromkeys(str(p.state or UNKNOWN) for p in points))
        y = {"type": "category", "data": sorted(states),
             "axisLabel": {"width": 72, "overflow": "truncate"}}
    return {
        "backgroundColor": "transparent", "animation": False,
        "grid": {"left": 8, "right": 16, "top": 28, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis", "renderMode": "richText"},
        "xAxis": {"type": "time", "min": lo * 1000, "max": hi * 1000,
                  "splitNumber": 4, "axisLabel": {"hideOverlap": True}},
        "yAxis": y,
        "series": [{"type": "line", "step": False, "showSymbol": len(points) < FEW,
                    "symbolSize": 5, "lineStyle": {"width": 2 if numeric else 3},
                    "connectNulls": False, "data": data}],
    }
