"""Where the lab should run its work given the power situation: the one place that decides.

:func:`derive_strategy` maps the latest reading and the power-mode select to a routing strategy
the hub's router follows (see ``nodes/power/messages.py`` for the values):

    =========  =======================  ==================  ===============
    mode       effective power source   battery             strategy
    =========  =======================  ==================  ===============
    on-grid    grid (forced)            any                 ``edge-first``
    auto       grid, or unknown         any                 ``edge-first``
    auto       battery                  above low           ``cloud-first``
    auto       battery                  low                 ``cloud-only``
    off-grid   battery (forced)         above low/unknown   ``cloud-first``
    off-grid   battery (forced)         low                 ``cloud-only``
    =========  =======================  ==================  ===============

Why:

* **On the grid, edge first.** Local inference (Pi + Hailo) costs only mains power, keeps data at
  home and answers fastest; the cloud takes overflow and covers a local failure.
* **On battery, cloud first.** Inference on the Pi 5 + Hailo-8 adds several watts over idle: on a
  small pack that is a large share of the remaining runtime. The uplink (router, ONT) is usually on
  the same UPS and costs the same whether we send a job or not, so offloading heavy work stretches
  the runtime of what matters most in an outage: MQTT, Home Assistant, automations. The edge stays
  the fallback, because a power cut often takes the ISP down with it.
* **Low battery, cloud only.** Near empty the Pi must not start local inference at all: a job the
  cloud cannot take is dropped rather than run locally, so the control plane lives until the
  orderly shutdown. "Low" is ``battery_percent <= threshold`` or the hardware's low-battery flag
  (NUT ``LB``), and it stays low until the battery is back above ``threshold + hysteresis`` (pass
  the previous strategy), so routing does not flap around the threshold.
* **``on-grid`` is an explicit override and wins**, even on a low battery (the user knows the
  sensor is wrong, or a generator is coming); the low-battery event still fires.
* **Unknown source** (a backend that cannot tell or failed) counts as grid: a broken sensor should
  not degrade the service; the node's ``backend_problem`` entity shows the fault instead.

``edge-only`` is never derived from power: a power cut gives no reason to refuse the cloud. The
value exists for the hub's router, which applies it while the cloud link (VPN) is down.
"""

from __future__ import annotations

from dataclasses import dataclass

from spark.nodes.power.backends.base import PowerReading
from spark.nodes.power.messages import PowerMode, Strategy


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Low-battery threshold in percent and the hysteresis to leave the low state."""

    low_battery_percent: float = 20.0
    hysteresis: float = 5.0


def is_low(reading: PowerReading | None, thresholds: Thresholds, was_low: bool = False) -> bool:
    """Low battery with hysteresis: at or below the threshold (or the hardware's LB flag); once
    low, it stays low until the battery is above ``threshold + hysteresis``."""
    if reading is None:
        return was_low
    if reading.low_battery:
        return True
    pct = reading.battery_percent
    if pct is None:
        return was_low
    limit = thresholds.low_battery_percent + (thresholds.hysteresis if was_low else 0.0)
    return pct <= limit


def derive_strategy(
    reading: PowerReading | None,
    mode: PowerMode,
    thresholds: Thresholds,
    previous: Strategy | None = None,
) -> Strategy:
    """The routing strategy for ``reading`` under ``mode`` (see the module docstring's table).

    ``previous`` is the strategy derived last time; it supplies the hysteresis around the
    low-battery threshold and keeps the function pure.
    """
    if mode == "on-grid":
        return "edge-first"
    on_battery = mode == "off-grid" or (reading is not None and reading.source == "battery")
    if not on_battery:
        return "edge-first"
    if is_low(reading, thresholds, was_low=previous == "cloud-only"):
        return "cloud-only"
    return "cloud-first"


class LowBatteryLatch:
    """Decides when the ``low_battery`` event fires: once when the battery falls to the threshold
    while not charging, re-armed (``recovered``) only above ``threshold + hysteresis``.

    A node that starts already low and discharging fires once at its first reading.
    """

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.low = False

    def update(self, reading: PowerReading | None) -> str | None:
        """Feed a reading; returns ``"low_battery"``, ``"recovered"`` or None."""
        if reading is None or reading.battery_percent is None:
            return None
        pct = reading.battery_percent
        t = self.thresholds
        if not self.low:
            discharging = reading.charging is not True
            if discharging and (pct <= t.low_battery_percent or reading.low_battery):
                self.low = True
                return "low_battery"
        elif pct > t.low_battery_percent + t.hysteresis and not reading.low_battery:
            self.low = False
            return "recovered"
        return None
