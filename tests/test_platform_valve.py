"""The ``valve`` platform (core/platforms/valve.py) as a table of Home Assistant's cases.

The facts come from HA's ``tests/components/mqtt/test_valve.py`` (open / closed / opening /
closing by state payload or JSON, valves that report a position with ranges and movement,
commands with templates, open / close of a positional valve by position, the optimistic rule,
config rules), written as our own data.
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

V = {"command_topic": "set", "state_topic": "state"}
P = {**V, "reports_position": True}

STATES = [
    StateCase("open", V, [("state_topic", "open")], "open"),
    StateCase("closed", V, [("state_topic", "closed")], "closed"),
    StateCase("opening", V, [("state_topic", "opening")], "opening"),
    StateCase("closing", V, [("state_topic", "closing")], "closing"),
    StateCase("None resets", V, [("state_topic", "open"), ("state_topic", "None")], None),
    StateCase("invalid ignored", V, [("state_topic", "open"), ("state_topic", "ajar")], "open"),
    StateCase("custom state payloads", {**V, "state_open": "OPEN", "state_closed": "SHUT"},
              [("state_topic", "SHUT")], "closed"),
    StateCase("JSON state", V, [("state_topic", '{"state": "closing"}')], "closing"),
    StateCase("JSON without state ignored", V,
              [("state_topic", "open"), ("state_topic", '{"position": 4}')], "open"),
    StateCase("value template", {**V, "value_template": "{{ value_json.s }}"},
              [("state_topic", '{"s": "open"}')], "open"),
    StateCase("position 0 is closed", P, [("state_topic", "0")], "closed",
              {"current_position": 0}),
    StateCase("position 40 is open", P, [("state_topic", "40")], "open",
              {"current_position": 40}),
    StateCase("position clamped", P, [("state_topic", "140")], "open", {"current_position": 100}),
    StateCase("position range", {**P, "position_open": 255}, [("state_topic", "127")], "open",
              {"current_position": 49}),
    StateCase("position inverted range", {**P, "position_open": 0, "position_closed": 100},
              [("state_topic", "100")], "closed", {"current_position": 0}),
    StateCase("position with movement", P, [("state_topic", '{"position": 20, '
                                                            '"state": "opening"}')],
              "opening", {"current_position": 20}),
    StateCase("still moving until an end", P,
              [("state_topic", "opening"), ("state_topic", "50")], "opening",
              {"current_position": 50}),
    StateCase("movement ends at 100", P,
              [("state_topic", "opening"), ("state_topic", "100")], "open",
              {"current_position": 100}),
    StateCase("position not numeric ignored", P,
              [("state_topic", "30"), ("state_topic", "half")], "open",
              {"current_position": 30}),
    StateCase("position None resets", P, [("state_topic", "30"), ("state_topic", "None")],
              None, {"current_position": ABSENT}),
]

COMMANDS = [
    CommandCase("open", V, "open_valve", {}, [("command_topic", "OPEN")], state=None),
    CommandCase("close optimistic", {"command_topic": "set"}, "close_valve", {},
                [("command_topic", "CLOSE")], state="closed"),
    CommandCase("custom payload and template", {**V, "payload_open": "on",
                                                "command_template": '{"v": "{{ value }}"}'},
                "open_valve", {}, [("command_topic", '{"v": "on"}')]),
    CommandCase("stop", {**V, "payload_stop": "STOP"}, "stop_valve", {},
                [("command_topic", "STOP")]),
    CommandCase("stop without payload_stop", V, "stop_valve", {}, error="payload_stop"),
    CommandCase("set position", P, "set_valve_position", {"position": 62},
                [("command_topic", "62")]),
    CommandCase("set position scaled", {**P, "position_open": 255}, "set_valve_position",
                {"position": 50}, [("command_topic", "128")]),
    CommandCase("set position template", {**P, "command_template":
                                          '{"p": {{ position }}, "v": {{ value }}}'},
                "set_valve_position", {"position": 30}, [("command_topic", '{"p": 30, "v": 30}')]),
    CommandCase("positional open sets 100", {**P, "position_open": 255}, "open_valve", {},
                [("command_topic", "255")]),
    CommandCase("positional close optimistic", {"command_topic": "set",
                                                "reports_position": True},
                "close_valve", {}, [("command_topic", "0")], state="closed",
                attrs={"current_position": 0}),
    CommandCase("set position on a binary valve", V, "set_valve_position", {"position": 5},
                error="reports_position"),
    CommandCase("toggle closed opens", V, "toggle", {}, [("command_topic", "OPEN")],
                before=[("state_topic", "closed")]),
    CommandCase("toggle open closes", V, "toggle", {}, [("command_topic", "CLOSE")],
                before=[("state_topic", "open")]),
    CommandCase("toggle opening stops", {**V, "payload_stop": "HALT"}, "toggle", {},
                [("command_topic", "HALT")], before=[("state_topic", "opening")]),
]


@pytest.mark.parametrize("case", STATES, ids=ids(STATES))
def test_state(case: StateCase):
    run_state_offline("valve", case)


@pytest.mark.parametrize("case", COMMANDS, ids=ids(COMMANDS))
async def test_command(case: CommandCase):
    await run_command_offline("valve", case)


@pytest.mark.parametrize(("config", "error"), [
    ({"reports_position": True, "payload_open": "O"}, "not allowed"),
    ({"reports_position": True, "state_closed": "shut"}, "not allowed"),
    ({"reports_position": True, "position_open": 0}, "must differ"),
])
def test_discovery_rules(config, error):
    with pytest.raises(PayloadError, match=error):
        Offline.parse("valve", {"command_topic": "c", **config})


async def test_every_case_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "valve", STATES, COMMANDS)
