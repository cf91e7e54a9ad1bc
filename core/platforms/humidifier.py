"""``humidifier``: an on/off state with ``turn_on`` / ``turn_off`` / ``toggle`` (payloads default to
``ON`` / ``OFF``), a toggle in the panel, "turn on / off" for voice."""

from __future__ import annotations

from spark.core.platforms.base import OnOff


class Humidifier(OnOff):
    name = "humidifier"
