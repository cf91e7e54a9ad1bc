"""The ``humidifier`` platform (core/platforms/humidifier.py) as a table of Home Assistant's
cases.

The facts come from HA's ``tests/components/mqtt/test_humidifier.py`` (state with
``state_value_template`` and custom payloads, target humidity with range and reset, modes with
reset, action, current humidity; commands with templates and the optimistic rules;
validation), written as our own data.
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

H = {"command_topic": "set", "state_topic": "state", "target_humidity_command_topic": "hum/set"}
HS = {**H, "target_humidity_state_topic": "hum"}
M = {**H, "mode_command_topic": "mode/set", "mode_state_topic": "mode",
     "modes": ["eco", "auto", "baby"]}

STATES = [
    StateCase("on", H, [("state_topic", "ON")], "on", {"min_humidity": 0, "max_humidity": 100}),
    StateCase("off", H, [("state_topic", "ON"), ("state_topic", "OFF")], "off"),
    StateCase("None resets", H, [("state_topic", "ON"), ("state_topic", "None")], None),
    StateCase("unknown ignored", H, [("state_topic", "ON"), ("state_topic", "x")], "on"),
    StateCase("custom payloads", {**H, "payload_on": "StAtE_On"}, [("state_topic", "StAtE_On")],
              "on"),
    StateCase("state_value_template", {**H, "state_value_template": "{{ value_json.s }}"},
              [("state_topic", '{"s": "OFF"}')], "off"),
    StateCase("target humidity", HS, [("target_humidity_state_topic", "64.6")], None,
              {"humidity": 65}),
    StateCase("target humidity out of range ignored", {**HS, "max_humidity": 80},
              [("target_humidity_state_topic", "50"), ("target_humidity_state_topic", "90")],
              None, {"humidity": 50}),
    StateCase("target humidity reset", {**HS, "payload_reset_humidity": "rEset"},
              [("target_humidity_state_topic", "50"), ("target_humidity_state_topic", "rEset")],
              None, {"humidity": None}),
    StateCase("target humidity template",
              {**HS, "target_humidity_state_template": "{{ value_json.h }}"},
              [("target_humidity_state_topic", '{"h": 40}')], None, {"humidity": 40}),
    StateCase("mode", M, [("mode_state_topic", "eco")], None,
              {"mode": "eco", "available_modes": ["eco", "auto", "baby"]}),
    StateCase("mode not listed ignored", M,
              [("mode_state_topic", "baby"), ("mode_state_topic", "turbo")], None,
              {"mode": "baby"}),
    StateCase("mode reset", M, [("mode_state_topic", "baby"), ("mode_state_topic", "None")],
              None, {"mode": None}),
    StateCase("action", {**H, "action_topic": "act"}, [("action_topic", "drying")], None,
              {"action": "drying"}),
    StateCase("invalid action ignored", {**H, "action_topic": "act"},
              [("action_topic", "idle"), ("action_topic", "boiling")], None, {"action": "idle"}),
    StateCase("current humidity", {**H, "current_humidity_topic": "cur"},
              [("current_humidity_topic", "37.64")], None, {"current_humidity": 38}),
    StateCase("current humidity reset", {**H, "current_humidity_topic": "cur"},
              [("current_humidity_topic", "40"), ("current_humidity_topic", "None")], None,
              {"current_humidity": ABSENT}),
    StateCase("action None ignored", {**H, "action_topic": "act"},
              [("action_topic", "humidifying"), ("action_topic", "None")], None,
              {"action": "humidifying"}),
    StateCase("current humidity above 100 ignored", {**H, "current_humidity_topic": "cur"},
              [("current_humidity_topic", "30"), ("current_humidity_topic", "130")], None,
              {"current_humidity": 30}),
    StateCase("no mode attributes without modes", H, [], None,
              {"mode": ABSENT, "available_modes": ABSENT}),
]

COMMANDS = [
    CommandCase("turn on", H, "turn_on", {}, [("command_topic", "ON")], state=None),
    CommandCase("turn off optimistic", {**H, "state_topic": None}, "turn_off", {},
                [("command_topic", "OFF")], state="off"),
    CommandCase("command template", {**H, "command_template": "state: {{ value }}"},
                "turn_on", {}, [("command_topic", "state: ON")]),
    CommandCase("set humidity optimistic", H, "set_humidity", {"humidity": 82},
                [("target_humidity_command_topic", "82")], attrs={"humidity": 82}),
    CommandCase("set humidity pessimistic", HS, "set_humidity", {"humidity": 82},
                [("target_humidity_command_topic", "82")], attrs={"humidity": None}),
    CommandCase("humidity template", {**H, "target_humidity_command_template":
                                      "{{ value | int }}%"},
                "set_humidity", {"humidity": 45.7},
                [("target_humidity_command_topic", "45%")]),
    CommandCase("humidity out of range", {**H, "min_humidity": 30}, "set_humidity",
                {"humidity": 20}, error="outside 30..100"),
    CommandCase("set mode", M, "set_mode", {"mode": "auto"}, [("mode_command_topic", "auto")],
                attrs={"mode": None}),
    CommandCase("set mode optimistic with template",
                {**M, "mode_state_topic": None, "mode_command_template": "mode: {{ value }}"},
                "set_mode", {"mode": "baby"}, [("mode_command_topic", "mode: baby")],
                attrs={"mode": "baby"}),
    CommandCase("mode not listed", M, "set_mode", {"mode": "turbo"}, error="not one of"),
    CommandCase("mode without modes", H, "set_mode", {"mode": "eco"},
                error="mode_command_topic"),
    CommandCase("toggle", H, "toggle", {}, [("command_topic", "OFF")],
                before=[("state_topic", "ON")]),
]


def _clean(config: dict) -> dict:
    return {k: v for k, v in config.items() if v is not None}


STATES = [StateCase(c.name, _clean(c.config), c.messages, c.state, c.attrs) for c in STATES]
COMMANDS = [CommandCase(c.name, _clean(c.config), c.service, c.data, c.published, c.before,
                        c.state, c.attrs, c.error) for c in COMMANDS]


@pytest.mark.parametrize("case", STATES, ids=ids(STATES))
def test_state(case: StateCase):
    run_state_offline("humidifier", case)


@pytest.mark.parametrize("case", COMMANDS, ids=ids(COMMANDS))
async def test_command(case: CommandCase):
    await run_command_offline("humidifier", case)


@pytest.mark.parametrize(("config", "error"), [
    ({"target_humidity_command_topic": None}, "target_humidity_command_topic"),
    ({"min_humidity": 60, "max_humidity": 50}, "max_humidity must be"),
    ({"modes": ["eco"]}, "set together"),
])
def test_discovery_rules(config, error):
    with pytest.raises(PayloadError, match=error):
        Offline.parse("humidifier", _clean({**H, **config}))


async def test_every_case_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "humidifier", STATES, COMMANDS)
