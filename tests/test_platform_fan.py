"""The ``fan`` platform (core/platforms/fan.py) as a table of Home Assistant's cases.

The facts come from HA's ``tests/components/mqtt/test_fan.py`` (state with custom payloads and
``state_value_template``, percentage with speed ranges and reset, preset modes, oscillation,
direction, their templates; turn_on with percentage / preset, set_percentage scaling, the
optimistic rules per attribute, validation), written as our own data.
"""

from __future__ import annotations

import pytest
from platform_cases import (
    ABSENT,
    CommandCase,
    Offline,
    StateCase,
    ids,
    run_command_offline,
    run_state_offline,
    run_through_hub,
)

from spark.core.errors import PayloadError

F = {"command_topic": "set", "state_topic": "state"}
PCT = {**F, "percentage_command_topic": "pct/set", "percentage_state_topic": "pct"}
PRESET = {**F, "preset_mode_command_topic": "preset/set", "preset_mode_state_topic": "preset",
          "preset_modes": ["whoosh", "breeze", "silent"]}
OSC = {**F, "oscillation_command_topic": "osc/set", "oscillation_state_topic": "osc"}
DIR = {**F, "direction_command_topic": "dir/set", "direction_state_topic": "dir"}

STATES = [
    StateCase("on", F, [("state_topic", "ON")], "on"),
    StateCase("off", F, [("state_topic", "ON"), ("state_topic", "OFF")], "off"),
    StateCase("None resets", F, [("state_topic", "ON"), ("state_topic", "None")], None),
    StateCase("empty ignored", F, [("state_topic", "ON"), ("state_topic", "")], "on"),
    StateCase("unknown payload ignored", F, [("state_topic", "OFF"), ("state_topic", "maybe")],
              "off"),
    StateCase("custom payloads", {**F, "payload_on": "StAtE_On", "payload_off": "StAtE_OfF"},
              [("state_topic", "StAtE_On")], "on"),
    StateCase("state_value_template", {**F, "state_value_template": "{{ value_json.val }}"},
              [("state_topic", '{"val": "ON"}')], "on"),
    StateCase("value_template is not the state's", {**F, "value_template": "{{ value_json.x }}"},
              [("state_topic", "ON")], "on"),
    StateCase("percentage", PCT, [("percentage_state_topic", "50")], None,
              {"percentage": 50, "percentage_step": 1.0}),
    StateCase("percentage 0", PCT, [("percentage_state_topic", "0")], None, {"percentage": 0}),
    StateCase("percentage above range ignored", PCT,
              [("percentage_state_topic", "40"), ("percentage_state_topic", "101")], None,
              {"percentage": 40}),
    StateCase("percentage not an integer ignored", PCT,
              [("percentage_state_topic", "40"), ("percentage_state_topic", "55.5")], None,
              {"percentage": 40}),
    StateCase("percentage reset", {**PCT, "payload_reset_percentage": "rEset_percentage"},
              [("percentage_state_topic", "40"), ("percentage_state_topic", "rEset_percentage")],
              None, {"percentage": None}),
    StateCase("speed range 1..3", {**PCT, "speed_range_max": 3},
              [("percentage_state_topic", "1")], None,
              {"percentage": 33, "percentage_step": 100 / 3}),
    StateCase("speed range top", {**PCT, "speed_range_max": 3},
              [("percentage_state_topic", "3")], None, {"percentage": 100}),
    StateCase("speed above range ignored", {**PCT, "speed_range_max": 3},
              [("percentage_state_topic", "2"), ("percentage_state_topic", "4")], None,
              {"percentage": 66}),
    StateCase("percentage template", {**PCT, "percentage_value_template": "{{ value_json.p }}"},
              [("percentage_state_topic", '{"p": 70}')], None, {"percentage": 70}),
    StateCase("preset mode", PRESET, [("preset_mode_state_topic", "breeze")], None,
              {"preset_mode": "breeze", "preset_modes": ["whoosh", "breeze", "silent"]}),
    StateCase("preset not listed ignored", PRESET,
              [("preset_mode_state_topic", "silent"), ("preset_mode_state_topic", "ModeUnknown")],
              None, {"preset_mode": "silent"}),
    StateCase("preset reset", PRESET,
              [("preset_mode_state_topic", "silent"), ("preset_mode_state_topic", "None")],
              None, {"preset_mode": None}),
    StateCase("oscillation starts false with a state topic", OSC, [], None,
              {"oscillating": False}),
    StateCase("oscillation on", OSC, [("oscillation_state_topic", "oscillate_on")], None,
              {"oscillating": True}),
    StateCase("oscillation custom payloads", {**OSC, "payload_oscillation_on": "OsC_On",
                                              "payload_oscillation_off": "OsC_OfF"},
              [("oscillation_state_topic", "OsC_On"), ("oscillation_state_topic", "OsC_OfF")],
              None, {"oscillating": False}),
    StateCase("oscillation template", {**OSC, "oscillation_value_template": "{{ value_json.o }}"},
              [("oscillation_state_topic", '{"o": "oscillate_on"}')], None,
              {"oscillating": True}),
    StateCase("direction", DIR, [("direction_state_topic", "reverse")], None,
              {"direction": "reverse"}),
    StateCase("no attributes without their command topics", F, [("state_topic", "ON")], "on",
              {"percentage": ABSENT, "oscillating": ABSENT, "direction": ABSENT}),
]

COMMANDS = [
    CommandCase("turn on optimistic", {"command_topic": "set"}, "turn_on", {},
                [("command_topic", "ON")], state="on"),
    CommandCase("turn on pessimistic", F, "turn_on", {}, [("command_topic", "ON")], state=None),
    CommandCase("turn off optimistic", {"command_topic": "set", "payload_off": "StAtE_OfF"},
                "turn_off", {}, [("command_topic", "StAtE_OfF")], state="off"),
    CommandCase("command template", {**F, "command_template": "state: {{ value }}"},
                "turn_on", {}, [("command_topic", "state: ON")]),
    CommandCase("turn on with percentage", {"command_topic": "set",
                                            "percentage_command_topic": "pct/set"},
                "turn_on", {"percentage": 25},
                [("command_topic", "ON"), ("percentage_command_topic", "25")], state="on",
                attrs={"percentage": 25}),
    CommandCase("turn on with percentage 0 only turns on", PCT, "turn_on", {"percentage": 0},
                [("command_topic", "ON")]),
    CommandCase("turn on with preset", PRESET, "turn_on", {"preset_mode": "whoosh"},
                [("command_topic", "ON"), ("preset_mode_command_topic", "whoosh")]),
    CommandCase("set percentage", PCT, "set_percentage", {"percentage": 100},
                [("percentage_command_topic", "100")], attrs={"percentage": None}),
    CommandCase("set percentage optimistic", {**F, "percentage_command_topic": "pct/set"},
                "set_percentage", {"percentage": 42}, [("percentage_command_topic", "42")],
                attrs={"percentage": 42}),
    CommandCase("set percentage 0", PCT, "set_percentage", {"percentage": 0},
                [("percentage_command_topic", "0")]),
    CommandCase("set percentage 33 of 1..3", {**PCT, "speed_range_max": 3}, "set_percentage",
                {"percentage": 33}, [("percentage_command_topic", "1")]),
    CommandCase("set percentage 34 of 1..3", {**PCT, "speed_range_max": 3}, "set_percentage",
                {"percentage": 34}, [("percentage_command_topic", "2")]),
    CommandCase("percentage template", {**PCT, "percentage_command_template":
                                        '{"pct": {{ value }}}'},
                "set_percentage", {"percentage": 50},
                [("percentage_command_topic", '{"pct": 50}')]),
    CommandCase("percentage out of range", PCT, "set_percentage", {"percentage": 101},
                error="outside 0..100"),
    CommandCase("percentage without its topic", F, "set_percentage", {"percentage": 10},
                error="percentage_command_topic"),
    CommandCase("set preset", PRESET, "set_preset_mode", {"preset_mode": "silent"},
                [("preset_mode_command_topic", "silent")]),
    CommandCase("set preset optimistic with template",
                {**F, "preset_mode_command_topic": "preset/set", "preset_modes": ["eco"],
                 "preset_mode_command_template": "preset: {{ value }}"},
                "set_preset_mode", {"preset_mode": "eco"},
                [("preset_mode_command_topic", "preset: eco")], attrs={"preset_mode": "eco"}),
    CommandCase("preset not listed", PRESET, "set_preset_mode", {"preset_mode": "auto"},
                error="not one of"),
    CommandCase("oscillate on", {**F, "oscillation_command_topic": "osc/set"}, "oscillate",
                {"oscillating": True}, [("oscillation_command_topic", "oscillate_on")],
                attrs={"oscillating": True}),
    CommandCase("oscillate off pessimistic", OSC, "oscillate", {"oscillating": False},
                [("oscillation_command_topic", "oscillate_off")], attrs={"oscillating": False}),
    CommandCase("oscillate needs a bool", OSC, "oscillate", {"oscillating": 3},
                error="true or false"),
    CommandCase("set direction", {**F, "direction_command_topic": "dir/set"}, "set_direction",
                {"direction": "forward"}, [("direction_command_topic", "forward")],
                attrs={"direction": "forward"}),
    CommandCase("direction template", {**DIR, "direction_command_template": "dir: {{ value }}"},
                "set_direction", {"direction": "reverse"},
                [("direction_command_topic", "dir: reverse")]),
    CommandCase("direction not forward or reverse", DIR, "set_direction", {"direction": "up"},
                error="not one of"),
    CommandCase("toggle on turns off", F, "toggle", {}, [("command_topic", "OFF")],
                before=[("state_topic", "ON")]),
    CommandCase("toggle off turns on", F, "toggle", {}, [("command_topic", "ON")],
                before=[("state_topic", "OFF")]),
    CommandCase("not a fan service", F, "set_hvac_mode", {}, error="does not apply"),
]


@pytest.mark.parametrize("case", STATES, ids=ids(STATES))
def test_state(case: StateCase):
    run_state_offline("fan", case)


@pytest.mark.parametrize("case", COMMANDS, ids=ids(COMMANDS))
async def test_command(case: CommandCase):
    await run_command_offline("fan", case)


@pytest.mark.parametrize(("config", "error"), [
    ({"speed_range_min": 0}, "speed_range_min must be > 0"),
    ({"speed_range_min": 5, "speed_range_max": 5}, "speed_range_max must be >"),
    ({"preset_modes": ["eco"]}, "set together"),
    ({"state_topic": "s"}, "command_topic"),
])
def test_discovery_rules(config, error):
    with pytest.raises(PayloadError, match=error):
        Offline.parse("fan", {"command_topic": "c", **config} if "state_topic" not in config
                      else config)


async def test_every_case_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "fan", STATES, COMMANDS)
