"""The ``water_heater`` platform (core/platforms/water_heater.py) as a table of Home
Assistant's cases.

The facts come from HA's ``tests/components/mqtt/test_water_heater.py`` (the state is the
operation mode, ``off`` without a mode state topic; target and current temperature with
templates, precision and units; set_operation_mode / set_temperature / power commands with
templates and the optimistic rules; validation), written as our own data.
"""

from __future__ import annotations

import pytest
from platform_cases import (
    ABSENT,
    CommandCase,
    StateCase,
    ids,
    run_command_offline,
    run_state_offline,
    run_through_hub,
)

MODE = {"mode_command_topic": "mode/set"}
PMODE = {**MODE, "mode_state_topic": "mode"}
TEMP = {"temperature_command_topic": "temp/set"}
PTEMP = {**TEMP, "temperature_state_topic": "temp"}

STATES = [
    StateCase("off without a mode state topic", MODE, [], "off",
              {"operation_mode": "off", "min_temp": 43.3, "max_temp": 60.0,
               "temperature": 43.3, "current_temperature": None,
               "operation_list": ["off", "eco", "electric", "gas", "heat_pump", "high_demand",
                                  "performance"]}),
    StateCase("Fahrenheit defaults", {**MODE, "temperature_unit": "F"}, [], "off",
              {"min_temp": 110, "max_temp": 140, "temperature": 110,
               "target_temp_high": None, "target_temp_low": None}),
    StateCase("no operation mode attributes without mode topics", TEMP, [], "off",
              {"operation_mode": ABSENT, "operation_list": ABSENT}),
    StateCase("empty mode ignored", PMODE,
              [("mode_state_topic", "gas"), ("mode_state_topic", " ")], "gas"),
    StateCase("unknown with a mode state topic", PMODE, [], None),
    StateCase("mode from its topic", PMODE, [("mode_state_topic", "eco")], "eco",
              {"operation_mode": "eco"}),
    StateCase("mode not listed ignored", PMODE,
              [("mode_state_topic", "gas"), ("mode_state_topic", "coal")], "gas"),
    StateCase("mode None resets", PMODE, [("mode_state_topic", "gas"),
                                          ("mode_state_topic", "None")], None),
    StateCase("mode template", {**PMODE, "mode_state_template": "{{ value_json.m }}"},
              [("mode_state_topic", '{"m": "performance"}')], "performance"),
    StateCase("target temperature", PTEMP, [("temperature_state_topic", "55.56")], "off",
              {"temperature": 55.6}),
    StateCase("target temperature halves", {**PTEMP, "precision": 0.5},
              [("temperature_state_topic", "55.2")], "off", {"temperature": 55.0}),
    StateCase("target temperature not numeric ignored", PTEMP,
              [("temperature_state_topic", "50"), ("temperature_state_topic", "hot")], "off",
              {"temperature": 50.0}),
    StateCase("current temperature with value_template fallback",
              {**MODE, "current_temperature_topic": "cur", "value_template": "{{ value_json.t }}"},
              [("current_temperature_topic", '{"t": 48.25}')], "off",
              {"current_temperature": 48.2}),
]

COMMANDS = [
    CommandCase("set mode optimistic", MODE, "set_operation_mode", {"operation_mode": "eco"},
                [("mode_command_topic", "eco")], state="eco", attrs={"operation_mode": "eco"}),
    CommandCase("set mode pessimistic", PMODE, "set_operation_mode",
                {"operation_mode": "gas"}, [("mode_command_topic", "gas")], state=None),
    CommandCase("mode template", {**MODE, "mode_command_template": "mode: {{ value }}"},
                "set_operation_mode", {"operation_mode": "electric"},
                [("mode_command_topic", "mode: electric")]),
    CommandCase("mode not listed", MODE, "set_operation_mode", {"operation_mode": "coal"},
                error="not one of"),
    CommandCase("set temperature", TEMP, "set_temperature", {"temperature": 50},
                [("temperature_command_topic", "50.0")], attrs={"temperature": 50.0}),
    CommandCase("set temperature pessimistic", PTEMP, "set_temperature", {"temperature": 50},
                [("temperature_command_topic", "50.0")], attrs={"temperature": None}),
    CommandCase("mode then temperature", {**MODE, **TEMP}, "set_temperature",
                {"temperature": 55, "operation_mode": "eco"},
                [("mode_command_topic", "eco"), ("temperature_command_topic", "55.0")],
                state="eco"),
    CommandCase("temperature template", {**TEMP, "temperature_command_template":
                                         "temp: {{ value }}"},
                "set_temperature", {"temperature": 47.5},
                [("temperature_command_topic", "temp: 47.5")]),
    CommandCase("temperature below min", TEMP, "set_temperature", {"temperature": 20},
                error="outside"),
    CommandCase("turn on", {**MODE, "power_command_topic": "power"}, "turn_on", {},
                [("power_command_topic", "ON")]),
    CommandCase("turn off with template", {**MODE, "power_command_topic": "power",
                                           "power_command_template": "p{{ value }}"},
                "turn_off", {}, [("power_command_topic", "pOFF")]),
    CommandCase("turn on without power topic", MODE, "turn_on", {},
                error="power_command_topic"),
]


@pytest.mark.parametrize("case", STATES, ids=ids(STATES))
def test_state(case: StateCase):
    run_state_offline("water_heater", case)


@pytest.mark.parametrize("case", COMMANDS, ids=ids(COMMANDS))
async def test_command(case: CommandCase):
    await run_command_offline("water_heater", case)


async def test_every_case_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "water_heater", STATES, COMMANDS)
