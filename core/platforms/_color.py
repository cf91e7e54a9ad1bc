"""Colour arithmetic with Home Assistant's semantics (``homeassistant/util/color.py`` as of
2025.4): the same formulas and the same rounding, so that a light reports the same attributes and
a service call publishes the same numbers as in Home Assistant.

Written from HA's documented behaviour and its tests' figures; every function is pure and works on
plain tuples of numbers (bounded input: callers validate ranges first).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

DEFAULT_MIN_KELVIN = 2000  # HA's light defaults (500 and 153 mireds)
DEFAULT_MAX_KELVIN = 6535

RGB = tuple[int, int, int]


def mired_to_kelvin(mired: float) -> int:
    return math.floor(1_000_000 / mired)


def kelvin_to_mired(kelvin: float) -> int:
    return math.floor(1_000_000 / kelvin)


def brightness_to_value(scale: int, brightness: float) -> float:
    """HA's 0..255 brightness on a device scale ``1..scale`` (not rounded)."""
    return brightness * scale / 255


def value_to_brightness(scale: int, value: float) -> int:
    """A device value on ``1..scale`` as HA's brightness, clamped to 1..255."""
    return min(255, max(1, round(value * 255 / scale)))


def hsv_to_rgb(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h / 360, s / 100, v / 100)
    return (round(r * 255), round(g * 255), round(b * 255))


def hs_to_rgb(h: float, s: float) -> RGB:
    return hsv_to_rgb(h, s, 100)


def rgb_to_hsv(r: float, g: float, b: float) -> tuple[float, float, float]:
    h, s, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
    return (round(h * 360, 3), round(s * 100, 3), round(v * 100, 3))


def rgb_to_hs(r: float, g: float, b: float) -> tuple[float, float]:
    h, s, _ = rgb_to_hsv(r, g, b)
    return (h, s)


def _gamma(c: float) -> float:
    return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92


def rgb_to_xy(r: float, g: float, b: float) -> tuple[float, float]:
    """Wide-gamut D65 conversion, rounded to 3 places (no lamp gamut)."""
    if r + g + b == 0:
        return (0.0, 0.0)
    rl, gl, bl = _gamma(r / 255), _gamma(g / 255), _gamma(b / 255)
    x = rl * 0.664511 + gl * 0.154324 + bl * 0.162028
    y = rl * 0.283881 + gl * 0.668433 + bl * 0.047685
    z = rl * 0.000088 + gl * 0.072310 + bl * 0.986039
    total = x + y + z
    return (round(x / total, 3), round(y / total, 3))


def _ungamma(c: float) -> float:
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def xy_to_rgb(x: float, y: float) -> RGB:
    """Full brightness; components bounded to 0..255."""
    if y == 0.0:
        y += 0.00000000001
    big_y = 1.0
    big_x = big_y / y * x
    big_z = big_y / y * (1 - x - y)
    r = big_x * 1.656492 - big_y * 0.354851 - big_z * 0.255038
    g = -big_x * 0.707196 + big_y * 1.655397 + big_z * 0.036152
    b = big_x * 0.051713 - big_y * 0.121364 + big_z * 1.011530
    r, g, b = (max(0.0, _ungamma(c)) for c in (r, g, b))
    top = max(r, g, b)
    if top > 1:
        r, g, b = r / top, g / top, b / top
    return (int(r * 255), int(g * 255), int(b * 255))


def xy_to_hs(x: float, y: float) -> tuple[float, float]:
    return rgb_to_hs(*xy_to_rgb(x, y))


def hs_to_xy(h: float, s: float) -> tuple[float, float]:
    return rgb_to_xy(*hs_to_rgb(h, s))


def xy_to_kelvin(x: float, y: float) -> int:
    """McCamy's approximation, as HA (``color_xy_to_temperature``)."""
    n = (x - 0.3320) / (0.1858 - y)
    return int(437 * n**3 + 3601 * n**2 + 6861 * n + 5517)


def _clamp(value: float) -> float:
    return min(max(value, 0), 255)


def kelvin_to_rgb(kelvin: float) -> tuple[float, float, float]:
    """Tanner Helland's black-body approximation (unrounded, 0..255)."""
    t = min(max(kelvin, 1000), 40000) / 100
    red = 255.0 if t <= 66 else _clamp(329.698727446 * (t - 60) ** -0.1332047592)
    if t <= 66:
        green = _clamp(99.4708025861 * math.log(t) - 161.1195681661)
    else:
        green = _clamp(288.1221695283 * (t - 60) ** -0.0755148492)
    if t >= 66:
        blue = 255.0
    elif t <= 19:
        blue = 0.0
    else:
        blue = _clamp(138.5177312231 * math.log(t - 10) - 305.0447927307)
    return (red, green, blue)


def kelvin_to_hs(kelvin: float) -> tuple[float, float]:
    return rgb_to_hs(*kelvin_to_rgb(kelvin))


def _match_max_scale(inputs: tuple[float, ...], outputs: tuple[float, ...]) -> tuple[int, ...]:
    top_in, top_out = max(inputs), max(outputs)
    factor = 0.0 if top_out == 0 else top_in / top_out
    return tuple(round(c * factor) for c in outputs)


def rgb_to_rgbw(rgb: Sequence[float]) -> tuple[int, ...]:
    r, g, b = rgb
    w = min(r, g, b)
    return _match_max_scale((r, g, b), (r - w, g - w, b - w, w))


def rgbw_to_rgb(rgbw: Sequence[float]) -> tuple[int, ...]:
    r, g, b, w = rgbw
    return _match_max_scale((r, g, b, w), (r + w, g + w, b + w))


def rgb_to_rgbww(rgb: Sequence[float], min_kelvin: int, max_kelvin: int) -> tuple[int, ...]:
    r, g, b = rgb
    max_mireds, min_mireds = kelvin_to_mired(min_kelvin), kelvin_to_mired(max_kelvin)
    midpoint = min_mireds + (max_mireds - min_mireds) / 2
    wr, wg, wb = kelvin_to_rgb(mired_to_kelvin(midpoint))
    level = min(r / wr if wr else 0, g / wg if wg else 0, b / wb if wb else 0)
    white = round(level * 255)
    return _match_max_scale((r, g, b), (r - wr * level, g - wg * level, b - wb * level,
                                        white, white))


def rgbww_to_rgb(rgbww: Sequence[float], min_kelvin: int, max_kelvin: int) -> tuple[int, ...]:
    r, g, b, cw, ww = rgbww
    max_mireds, min_mireds = kelvin_to_mired(min_kelvin), kelvin_to_mired(max_kelvin)
    ratio = ww / (cw + ww) if cw + ww else 0.5
    mired = min_mireds + ratio * (max_mireds - min_mireds)
    wr, wg, wb = kelvin_to_rgb(mired_to_kelvin(mired) if mired else 0)
    level = max(cw, ww) / 255
    return _match_max_scale((r, g, b, cw, ww), (r + wr * level, g + wg * level, b + wb * level))


def kelvin_to_rgbww(kelvin: int, brightness: int, min_kelvin: int, max_kelvin: int
                    ) -> tuple[int, int, int, int, int]:
    max_mireds, min_mireds = kelvin_to_mired(min_kelvin), kelvin_to_mired(max_kelvin)
    mired = kelvin_to_mired(kelvin)
    cold = (max_mireds - mired) / (max_mireds - min_mireds) * brightness
    return (0, 0, 0, round(cold), round(brightness - cold))
