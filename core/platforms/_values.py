"""Shared arithmetic and checks of the multi-value platforms (cover, valve, fan, climate, ...).

- Ranges: Home Assistant's ``util/percentage.py`` semantics, which its MQTT cover, valve and fan
  use to map a device's range (``position_closed + 1 .. position_open``, ``speed_range_min ..
  speed_range_max``) to 0..100 % and back; a range may run backwards (open at 0).
- Service data comes from the REST API, the panel, voice, the cloud and the LLM agent: every
  value is checked here (type, finite, bounds) and refused with a ``ServiceError`` that names
  the field and what is accepted.
- Temperatures are shown as Home Assistant's ``display_temp`` shows them: rounded to the
  entity's precision (tenths for Celsius, whole degrees for Fahrenheit unless ``precision``).
"""

from __future__ import annotations

import math
from typing import Any

from spark.core.errors import PayloadError, ServiceError

PRECISIONS = (0.1, 0.5, 1.0)


def states_in_range(low_high: tuple[float, float]) -> float:
    return low_high[1] - low_high[0] + 1


def to_percentage(low_high: tuple[float, float], value: float) -> int:
    """A device value in ``low_high`` -> 0..100 (HA's ``ranged_value_to_percentage``)."""
    states = states_in_range(low_high)
    if states == 0:
        raise PayloadError(f"the range {low_high[0] - 1}..{low_high[1]} is empty")
    try:
        return int((value - (low_high[0] - 1)) * 100 // states)
    except (OverflowError, ValueError):
        raise PayloadError(f"{value!r} is not a finite number") from None


def from_percentage(low_high: tuple[float, float], percentage: float) -> float:
    """0..100 -> a device value in ``low_high`` (HA's ``percentage_to_ranged_value``)."""
    return percentage * states_in_range(low_high) / 100 + (low_high[0] - 1)


def number(value: str, what: str) -> float:
    """A rendered payload as a finite float; ``PayloadError`` naming ``what`` otherwise."""
    try:
        parsed = float(value)
    except (TypeError, ValueError, OverflowError):  # an int of 400 digits: OverflowError
        raise PayloadError(f"{what}: {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(parsed):
        raise PayloadError(f"{what}: {str(value)[:40]!r} is not a finite number")
    return parsed


# ---- service data ------------------------------------------------------------------------------
def required(data: dict[str, Any], key: str, service: str) -> Any:
    if key not in data or data[key] is None:
        raise ServiceError(f"{service} needs {key!r}")
    return data[key]


def data_float(data: dict[str, Any], key: str, service: str,
               low: float | None = None, high: float | None = None) -> float:
    """``data[key]`` as a finite float in ``low..high`` (bools and containers refused)."""
    value = required(data, key, service)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ServiceError(f"{service}: {key} must be a number, got {type(value).__name__}")
    try:
        parsed = float(value)
    except ValueError:
        raise ServiceError(f"{service}: {key} {str(value)[:40]!r} is not a number") from None
    except OverflowError:  # an int of 400 digits (JSON bodies parsed by Python's json)
        raise ServiceError(f"{service}: {key} must be a finite number") from None
    if not math.isfinite(parsed):
        raise ServiceError(f"{service}: {key} must be a finite number")
    if (low is not None and parsed < low) or (high is not None and parsed > high):
        raise ServiceError(f"{service}: {key} {parsed:g} is outside {low:g}..{high:g}")
    return parsed


def data_percentage(data: dict[str, Any], key: str, service: str) -> int:
    """``data[key]`` as HA's percentage fields take it: coerced to int, 0..100."""
    return int(data_float(data, key, service, 0, 100))


def data_option(data: dict[str, Any], key: str, service: str, options: list[str]) -> str:
    value = required(data, key, service)
    if not isinstance(value, str) or value not in options:
        shown = str(value)[:40]
        raise ServiceError(f"{service}: {shown!r} is not one of {', '.join(options) or 'none'}")
    return value


def data_bool(data: dict[str, Any], key: str, service: str) -> bool:
    value = required(data, key, service)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "on", "off"):
        return value.lower() in ("true", "on")
    raise ServiceError(f"{service}: {key} must be true or false")


def show_temp(value: float | None, precision: float) -> float | int | None:
    """A temperature as HA's ``display_temp`` rounds it for its state attributes."""
    if value is None:
        return None
    if precision == 0.5:
        return round(value * 2) / 2.0
    if precision == 0.1:
        return round(value, 1)
    return round(value)
