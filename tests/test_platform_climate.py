"""The ``climate`` platform (core/platforms/climate.py) as a table of Home Assistant's cases.

The facts come from HA's ``tests/components/mqtt/test_climate.py`` (the state is the hvac
mode, ``off`` without a mode state topic; optimistic and pessimistic modes, setpoints, fan,
swing and preset modes, target humidity; current temperature / humidity, action; templates
and the ``value_template`` fallback; power commands; precision and units; service validation),
written as our own data.
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

MODE = {"mode_command_topic": "mode/set"}
PMODE = {**MODE, "mode_state_topic": "mode"}
TEMP = {"temperature_command_topic": "temp/set"}
PTEMP = {**TEMP, "temperature_state_topic": "temp"}
RANGE = {"temperature_low_command_topic": "low/set", "temperature_high_command_topic": "high/set"}
HSWING = {"swing_horizontal_mode_command_topic": "hswing/set"}
PHSWING = {**HSWING, "swing_horizontal_mode_state_topic": "hswing"}
PRESETS = {"preset_mode_command_topic": "preset/set",
           "preset_modes": ["eco", "away", "boost", "comfort", "home", "sleep", "activity"]}

STATES = [
    StateCase("off without a mode state topic", MODE, [], "off",
              {"hvac_modes": ["auto", "off", "cool", "heat", "dry", "fan_only"],
               "min_temp": 7, "max_temp": 35, "target_temp_step": 1.0,
               "current_temperature": None}),
    StateCase("initial setpoint without state topic", TEMP, [], "off", {"temperature": 21}),
    StateCase("custom initial setpoint", {**TEMP, "initial": 19.5}, [], "off",
              {"temperature": 19.5}),
    StateCase("unknown with a mode state topic", PMODE, [], None),
    StateCase("mode from its topic", PMODE, [("mode_state_topic", "cool")], "cool"),
    StateCase("mode not in modes ignored", PMODE,
              [("mode_state_topic", "cool"), ("mode_state_topic", "bogus")], "cool"),
    StateCase("mode None resets", PMODE,
              [("mode_state_topic", "cool"), ("mode_state_topic", "None")], None),
    StateCase("custom modes", {**PMODE, "modes": ["off", "heat_cool"]},
              [("mode_state_topic", "heat_cool")], "heat_cool",
              {"hvac_modes": ["off", "heat_cool"]}),
    StateCase("optimistic mode still follows its topic", {**PMODE, "optimistic": True},
              [("mode_state_topic", "heat")], "heat"),
    StateCase("mode state template", {**PMODE, "mode_state_template": "{{ value_json.mode }}"},
              [("mode_state_topic", '{"mode": "dry"}')], "dry"),
    StateCase("value_template is every topic's fallback",
              {**PMODE, "current_temperature_topic": "cur", "value_template": "{{ value_json.v }}"},
              [("mode_state_topic", '{"v": "heat"}'), ("current_temperature_topic", '{"v": 22.5}')],
              "heat", {"current_temperature": 22.5}),
    StateCase("current temperature", {**MODE, "current_temperature_topic": "cur"},
              [("current_temperature_topic", "47")], "off", {"current_temperature": 47.0}),
    StateCase("current temperature not numeric ignored",
              {**MODE, "current_temperature_topic": "cur"},
              [("current_temperature_topic", "20"), ("current_temperature_topic", "warm")],
              "off", {"current_temperature": 20.0}),
    StateCase("current temperature None resets", {**MODE, "current_temperature_topic": "cur"},
              [("current_temperature_topic", "20"), ("current_temperature_topic", "None")],
              "off", {"current_temperature": None}),
    StateCase("target temperature pessimistic", PTEMP, [("temperature_state_topic", "1701")],
              "off", {"temperature": 1701.0}),
    StateCase("target temperature empty ignored", PTEMP,
              [("temperature_state_topic", "20"), ("temperature_state_topic", "")], "off",
              {"temperature": 20.0}),
    StateCase("target temperature tenths by default", PTEMP,
              [("temperature_state_topic", "23.33")], "off", {"temperature": 23.3}),
    StateCase("target temperature halves", {**PTEMP, "precision": 0.5},
              [("temperature_state_topic", "23.3")], "off", {"temperature": 23.5}),
    StateCase("Fahrenheit: whole degrees and its defaults", {**PTEMP, "temperature_unit": "F"},
              [("temperature_state_topic", "70.4")], "off",
              {"temperature": 70, "min_temp": 45, "max_temp": 95}),
    StateCase("low and high setpoints",
              {**RANGE, "temperature_low_state_topic": "low",
               "temperature_high_state_topic": "high"},
              [("temperature_low_state_topic", "19"), ("temperature_high_state_topic", "24")],
              "off", {"target_temp_low": 19.0, "target_temp_high": 24.0,
                      "temperature": ABSENT}),
    StateCase("current humidity", {**MODE, "current_humidity_topic": "hum"},
              [("current_humidity_topic", "35")], "off", {"current_humidity": 35.0}),
    StateCase("target humidity", {"target_humidity_command_topic": "hum/set",
                                  "target_humidity_state_topic": "hum"},
              [("target_humidity_state_topic", "80")], "off",
              {"humidity": 80.0, "min_humidity": 30.0, "max_humidity": 99.0}),
    StateCase("action", {**MODE, "action_topic": "act"}, [("action_topic", "cooling")], "off",
              {"hvac_action": "cooling"}),
    StateCase("invalid action ignored", {**MODE, "action_topic": "act"},
              [("action_topic", "heating"), ("action_topic", "frying")], "off",
              {"hvac_action": "heating"}),
    StateCase("action None removes it", {**MODE, "action_topic": "act"},
              [("action_topic", "idle"), ("action_topic", "None")], "off",
              {"hvac_action": ABSENT}),
    StateCase("fan mode defaults to low without a state topic",
              {"fan_mode_command_topic": "fan/set"}, [], "off",
              {"fan_mode": "low", "fan_modes": ["auto", "low", "medium", "high"]}),
    StateCase("fan mode from its topic", {"fan_mode_command_topic": "fan/set",
                                          "fan_mode_state_topic": "fan"},
              [("fan_mode_state_topic", "high"), ("fan_mode_state_topic", "bogus")], "off",
              {"fan_mode": "high"}),
    StateCase("swing mode from its topic", {"swing_mode_command_topic": "swing/set",
                                            "swing_mode_state_topic": "swing"},
              [("swing_mode_state_topic", "on")], "off",
              {"swing_mode": "on", "swing_modes": ["on", "off"]}),
    StateCase("horizontal swing off without a state topic", HSWING, [], "off",
              {"swing_horizontal_mode": "off", "swing_horizontal_modes": ["on", "off"],
               "swing_mode": ABSENT, "swing_modes": ABSENT}),
    StateCase("horizontal swing unknown with a state topic", PHSWING, [], "off",
              {"swing_horizontal_mode": None, "swing_horizontal_modes": ["on", "off"]}),
    StateCase("horizontal swing from its topic, bogus ignored", PHSWING,
              [("swing_horizontal_mode_state_topic", "on"),
               ("swing_horizontal_mode_state_topic", "bogus")], "off",
              {"swing_horizontal_mode": "on"}),
    StateCase("horizontal swing None resets", PHSWING,
              [("swing_horizontal_mode_state_topic", "on"),
               ("swing_horizontal_mode_state_topic", "None")], "off",
              {"swing_horizontal_mode": None}),
    StateCase("horizontal swing optimistic still follows its topic",
              {**PHSWING, "optimistic": True}, [("swing_horizontal_mode_state_topic", "on")],
              "off", {"swing_horizontal_mode": "on"}),
    StateCase("horizontal swing state template and custom modes",
              {**PHSWING, "swing_horizontal_modes": ["left", "right", "off"],
               "swing_horizontal_mode_state_template": "{{ value_json.h }}"},
              [("swing_horizontal_mode_state_topic", '{"h": "left"}')], "off",
              {"swing_horizontal_mode": "left",
               "swing_horizontal_modes": ["left", "right", "off"]}),
    StateCase("horizontal swing from the state topic alone", {
              "swing_horizontal_mode_state_topic": "hswing"},
              [("swing_horizontal_mode_state_topic", "off")], "off",
              {"swing_horizontal_mode": "off"}),
    StateCase("value_template is the horizontal swing's fallback",
              {**PHSWING, "value_template": "{{ value_json.v }}"},
              [("swing_horizontal_mode_state_topic", '{"v": "on"}')], "off",
              {"swing_horizontal_mode": "on"}),
    StateCase("json attributes cannot overwrite the horizontal swing",
              {**HSWING, "json_attributes_topic": "attrs"},
              [("json_attributes_topic",
                '{"swing_horizontal_mode": "on", "swing_horizontal_modes": ["x"]}')],
              "off", {"swing_horizontal_mode": "off",
                      "swing_horizontal_modes": ["on", "off"]}),
    StateCase("presets start at none", PRESETS, [], "off",
              {"preset_mode": "none", "preset_modes": ["none", *PRESETS["preset_modes"]]}),
    StateCase("preset from its topic", {**PRESETS, "preset_mode_state_topic": "preset"},
              [("preset_mode_state_topic", "away"), ("preset_mode_state_topic", "invalid")],
              "off", {"preset_mode": "away"}),
    StateCase("preset None is none", {**PRESETS, "preset_mode_state_topic": "preset"},
              [("preset_mode_state_topic", "away"), ("preset_mode_state_topic", "None")],
              "off", {"preset_mode": "none"}),
    StateCase("json attributes cannot overwrite the climate's own",
              {**MODE, "json_attributes_topic": "attrs"},
              [("json_attributes_topic",
                '{"hvac_modes": ["x"], "current_temperature": 99, "valve": 40}')],
              "off", {"hvac_modes": ["auto", "off", "cool", "heat", "dry", "fan_only"],
                      "current_temperature": None, "valve": 40}),
    StateCase("features without topics have no attributes", MODE, [], "off",
              {"fan_mode": ABSENT, "swing_mode": ABSENT, "preset_mode": ABSENT,
               "swing_horizontal_mode": ABSENT, "swing_horizontal_modes": ABSENT,
               "humidity": ABSENT, "temperature": ABSENT}),
]

COMMANDS = [
    CommandCase("set mode optimistic", MODE, "set_hvac_mode", {"hvac_mode": "cool"},
                [("mode_command_topic", "cool")], state="cool"),
    CommandCase("set mode pessimistic", PMODE, "set_hvac_mode", {"hvac_mode": "cool"},
                [("mode_command_topic", "cool")], state=None),
    CommandCase("set mode with template", {**MODE, "mode_command_template":
                                           '{"mode": "{{ value }}"}'},
                "set_hvac_mode", {"hvac_mode": "heat"},
                [("mode_command_topic", '{"mode": "heat"}')], state="heat"),
    CommandCase("set mode not in modes", MODE, "set_hvac_mode", {"hvac_mode": "heat_cool"},
                error="not one of"),
    CommandCase("set temperature", TEMP, "set_temperature", {"temperature": 30},
                [("temperature_command_topic", "30.0")], attrs={"temperature": 30.0}),
    CommandCase("set temperature and mode", {**MODE, **TEMP}, "set_temperature",
                {"temperature": 21, "hvac_mode": "cool"},
                [("mode_command_topic", "cool"), ("temperature_command_topic", "21.0")],
                state="cool", attrs={"temperature": 21.0}),
    CommandCase("set temperature pessimistic", PTEMP, "set_temperature", {"temperature": 22},
                [("temperature_command_topic", "22.0")], attrs={"temperature": None}),
    CommandCase("set temperature template", {**TEMP, "temperature_command_template":
                                             "temp: {{ value }}"},
                "set_temperature", {"temperature": 23.5},
                [("temperature_command_topic", "temp: 23.5")]),
    CommandCase("set low and high", RANGE, "set_temperature",
                {"target_temp_low": 20, "target_temp_high": 23},
                [("temperature_low_command_topic", "20.0"),
                 ("temperature_high_command_topic", "23.0")],
                attrs={"target_temp_low": 20.0, "target_temp_high": 23.0}),
    CommandCase("low without high", RANGE, "set_temperature", {"target_temp_low": 20},
                error="go together"),
    CommandCase("low above high", RANGE, "set_temperature",
                {"target_temp_low": 25, "target_temp_high": 20}, error="above"),
    CommandCase("temperature above max_temp", TEMP, "set_temperature", {"temperature": 47},
                error="outside 7..35"),
    CommandCase("temperature within custom max", {**TEMP, "max_temp": 60}, "set_temperature",
                {"temperature": 47}, [("temperature_command_topic", "47.0")]),
    CommandCase("temperature not a number", TEMP, "set_temperature", {"temperature": "hot"},
                error="not a number"),
    CommandCase("set humidity", {"target_humidity_command_topic": "hum/set"}, "set_humidity",
                {"humidity": 82}, [("target_humidity_command_topic", "82")],
                attrs={"humidity": 82}),
    CommandCase("humidity below min", {"target_humidity_command_topic": "hum/set"},
                "set_humidity", {"humidity": 20}, error="outside 30..99"),
    CommandCase("set fan mode", {"fan_mode_command_topic": "fan/set"}, "set_fan_mode",
                {"fan_mode": "high"}, [("fan_mode_command_topic", "high")],
                attrs={"fan_mode": "high"}),
    CommandCase("set fan mode pessimistic", {"fan_mode_command_topic": "fan/set",
                                             "fan_mode_state_topic": "fan"},
                "set_fan_mode", {"fan_mode": "high"}, [("fan_mode_command_topic", "high")],
                attrs={"fan_mode": None}),
    CommandCase("fan mode not listed", {"fan_mode_command_topic": "fan/set"}, "set_fan_mode",
                {"fan_mode": "turbo"}, error="not one of"),
    CommandCase("set swing mode", {"swing_mode_command_topic": "swing/set",
                                   "swing_mode_command_template": "S{{ value }}"},
                "set_swing_mode", {"swing_mode": "on"}, [("swing_mode_command_topic", "Son")],
                attrs={"swing_mode": "on"}),
    CommandCase("set horizontal swing optimistic", HSWING, "set_swing_horizontal_mode",
                {"swing_horizontal_mode": "on"}, [("swing_horizontal_mode_command_topic", "on")],
                attrs={"swing_horizontal_mode": "on"}),
    CommandCase("set horizontal swing pessimistic", PHSWING, "set_swing_horizontal_mode",
                {"swing_horizontal_mode": "on"}, [("swing_horizontal_mode_command_topic", "on")],
                attrs={"swing_horizontal_mode": None}),
    CommandCase("set horizontal swing optimistic with a state topic",
                {**PHSWING, "optimistic": True}, "set_swing_horizontal_mode",
                {"swing_horizontal_mode": "on"}, [("swing_horizontal_mode_command_topic", "on")],
                attrs={"swing_horizontal_mode": "on"}),
    CommandCase("set horizontal swing with template",
                {**HSWING, "swing_horizontal_mode_command_template":
                 "swing_horizontal_mode: {{ value }}"},
                "set_swing_horizontal_mode", {"swing_horizontal_mode": "on"},
                [("swing_horizontal_mode_command_topic", "swing_horizontal_mode: on")]),
    CommandCase("horizontal swing not listed", HSWING, "set_swing_horizontal_mode",
                {"swing_horizontal_mode": "left"}, error="not one of"),
    CommandCase("horizontal swing needs its command topic", MODE, "set_swing_horizontal_mode",
                {"swing_horizontal_mode": "on"}, error="swing_horizontal_mode_command_topic"),
    CommandCase("the vertical swing is not the horizontal one", HSWING, "set_swing_mode",
                {"swing_mode": "on"}, error="swing_mode_command_topic"),
    CommandCase("set preset", PRESETS, "set_preset_mode", {"preset_mode": "away"},
                [("preset_mode_command_topic", "away")], attrs={"preset_mode": "away"}),
    CommandCase("set preset none", PRESETS, "set_preset_mode", {"preset_mode": "none"},
                [("preset_mode_command_topic", "none")], attrs={"preset_mode": "none"}),
    CommandCase("preset not listed", PRESETS, "set_preset_mode", {"preset_mode": "party"},
                error="not one of"),
    CommandCase("preset without presets", MODE, "set_preset_mode", {"preset_mode": "eco"},
                error="preset_mode_command_topic"),
    CommandCase("turn on with power topic", {**MODE, "power_command_topic": "power"},
                "turn_on", {}, [("power_command_topic", "ON")], state="off"),
    CommandCase("turn off with power topic, optimistic",
                {**PMODE, "power_command_topic": "power", "optimistic": True,
                 "payload_off": "STANDBY"},
                "turn_off", {}, [("power_command_topic", "STANDBY")], state="off",
                before=[("mode_state_topic", "heat")]),
    CommandCase("turn on without power topic sets heat", MODE, "turn_on", {},
                [("mode_command_topic", "heat")], state="heat"),
    CommandCase("turn on prefers heat_cool", {**MODE, "modes": ["off", "heat", "heat_cool"]},
                "turn_on", {}, [("mode_command_topic", "heat_cool")], state="heat_cool"),
    CommandCase("turn off without power topic sets off", PMODE, "turn_off", {},
                [("mode_command_topic", "off")], before=[("mode_state_topic", "heat")]),
    CommandCase("toggle off turns on", {**MODE, "power_command_topic": "power",
                                        "power_command_template": "P{{ value }}"},
                "toggle", {}, [("power_command_topic", "PON")]),
    CommandCase("toggle on turns off", PMODE, "toggle", {}, [("mode_command_topic", "off")],
                before=[("mode_state_topic", "cool")]),
    CommandCase("not a climate service", MODE, "open_cover", {}, error="does not apply"),
]


@pytest.mark.parametrize("case", STATES, ids=ids(STATES))
def test_state(case: StateCase):
    run_state_offline("climate", case)


@pytest.mark.parametrize("case", COMMANDS, ids=ids(COMMANDS))
async def test_command(case: CommandCase):
    await run_command_offline("climate", case)


@pytest.mark.parametrize(("config", "error"), [
    ({**PRESETS, "preset_modes": ["eco", "none"]}, "must not include"),
    ({"preset_mode_command_topic": "p"}, "set together"),
    ({"min_humidity": 60, "max_humidity": 50}, "max_humidity must be"),
    ({"target_humidity_state_topic": "h"}, "cannot be used without"),
    ({"precision": 0.2}, "precision"),
])
def test_discovery_rules(config, error):
    with pytest.raises(PayloadError, match=error):
        Offline.parse("climate", config)


async def test_every_case_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "climate", STATES, COMMANDS)


def test_a_climate_with_only_a_mode_command_topic_is_commandable():
    record = Offline().add("climate", 0, MODE)
    assert record.commandable and record.as_dict()["commandable"]
    assert record.as_dict()["state"] == "off"  # HA's start state, not null
    assert not Offline().add("climate", 1, {"mode_state_topic": "m"}).commandable


def test_horizontal_swing_keys_are_read_abbreviated():
    from discovery_samples import parse_one

    spec = parse_one("homeassistant/climate/ac/living/config", (
        b'{"uniq_id": "ac1", "swing_h_mode_cmd_t": "ac/hswing/set", '
        b'"swing_h_mode_cmd_tpl": "H{{ value }}", "swing_h_mode_stat_t": "ac/hswing", '
        b'"swing_h_mode_stat_tpl": "{{ value_json.h }}", "swing_h_modes": ["left", "off"]}'))
    assert spec.raw["swing_horizontal_mode_command_topic"] == "ac/hswing/set"
    assert spec.raw["swing_horizontal_mode_command_template"] == "H{{ value }}"
    assert spec.raw["swing_horizontal_mode_state_topic"] == "ac/hswing"
    assert spec.raw["swing_horizontal_mode_state_template"] == "{{ value_json.h }}"
    assert spec.swing_horizontal_modes == ["left", "off"]
    assert "ac/hswing" in spec.state_topics()


def test_a_bad_horizontal_swing_topic_is_rejected():
    with pytest.raises(PayloadError, match="swing_horizontal_mode_command_topic"):
        Offline.parse("climate", {"swing_horizontal_mode_command_topic": "ac/+/set"})
