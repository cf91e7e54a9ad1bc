"""States in the ``spark up`` summary as Home Assistant shows them (issue 13: ``unknown min``,
``unknown °`` and an epoch float as an event's state)."""

from __future__ import annotations

from datetime import UTC, datetime

from test_platforms import record

from spark.app.summary import ha_state


def test_unknown_and_unavailable_carry_no_unit() -> None:
    uptime = record("sensor", {"state_topic": "t", "unit_of_measurement": "min"})
    assert ha_state(uptime) == "unknown"
    uptime.state = "42"
    assert ha_state(uptime) == "42 min"
    uptime.available = False
    assert ha_state(uptime) == "unavailable"


def test_an_event_shows_when_it_last_fired_in_iso_8601() -> None:
    ring = record("event", {"state_topic": "t", "event_types": ["press"]})
    fired = datetime(2026, 12, 7, 6, 40, 12, 345678, tzinfo=UTC)
    ring.state, ring.last_changed = "press", fired.timestamp()
    assert ha_state(ring) == "2026-12-07T06:40:12+00:00"


def test_a_plain_state_is_shown_as_is() -> None:
    lamp = record("switch", {"state_topic": "t", "command_topic": "c"})
    lamp.state = "ON"
    assert ha_state(lamp) == "ON"
