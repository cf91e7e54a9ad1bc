"""Battery state of charge from cell voltage (and back), by piecewise-linear discharge curves.

Voltage-based SoC is what UPS HATs without a fuel gauge do (Waveshare's own example maps
6.0..8.4 V linearly for a 2-cell pack); a curve follows the flat middle of a Li-ion cell better.
The curves are per cell, resting voltage under a light (< 0.5 C) load.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

Curve = Sequence[tuple[float, float]]  # (cell volts, percent), both strictly increasing

CURVES: dict[str, tuple[tuple[float, float], ...]] = {
    "li-ion": (
        (3.00, 0.0), (3.30, 2.0), (3.50, 5.0), (3.60, 10.0), (3.68, 20.0), (3.73, 30.0),
        (3.77, 40.0), (3.80, 50.0), (3.85, 60.0), (3.92, 70.0), (4.00, 80.0), (4.08, 90.0),
        (4.20, 100.0),
    ),
    "lifepo4": (
        (2.80, 0.0), (3.00, 5.0), (3.20, 15.0), (3.25, 30.0), (3.28, 50.0), (3.30, 70.0),
        (3.33, 90.0), (3.40, 99.0), (3.60, 100.0),
    ),
    # Waveshare's example code: linear from 3.0 V to 4.2 V per cell.
    "linear": ((3.00, 0.0), (4.20, 100.0)),
}


def check_curve(points: Curve) -> tuple[tuple[float, float], ...]:
    """Validate a curve: >= 2 points, volts and percent strictly increasing, 0 % to 100 %."""
    pts = tuple((float(v), float(p)) for v, p in points)
    if len(pts) < 2:
        raise ValueError("a battery curve needs at least two (volts, percent) points")
    for (v0, p0), (v1, p1) in pairwise(pts):
        if not (v1 > v0 and p1 > p0):
            raise ValueError("curve points must increase in both volts and percent")
    if pts[0][1] != 0.0 or pts[-1][1] != 100.0:
        raise ValueError("a battery curve must run from 0 % to 100 %")
    return pts


def percent_from_voltage(cell_volts: float, curve: Curve) -> float:
    """SoC in percent for one cell's voltage, clamped to 0..100."""
    if cell_volts <= curve[0][0]:
        return 0.0
    for (v0, p0), (v1, p1) in pairwise(curve):
        if cell_volts <= v1:
            return p0 + (p1 - p0) * (cell_volts - v0) / (v1 - v0)
    return 100.0


def voltage_from_percent(percent: float, curve: Curve) -> float:
    """One cell's resting voltage at ``percent`` SoC (inverse of :func:`percent_from_voltage`)."""
    if percent <= curve[0][1]:
        return curve[0][0]
    for (v0, p0), (v1, p1) in pairwise(curve):
        if percent <= p1:
            return v0 + (v1 - v0) * (percent - p0) / (p1 - p0)
    return curve[-1][0]
