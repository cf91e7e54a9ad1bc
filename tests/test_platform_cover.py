"""The ``cover`` platform (core/platforms/cover.py) as a table of Home Assistant's cases.

The facts come from HA's ``tests/components/mqtt/test_cover.py`` (state via state topic with
default and custom payloads, ``stopped``, templates, position topic with ranges and JSON,
tilt status with ranges and templates, open / close / stop / position / tilt commands with
their templates and variables, the optimistic rules, toggle), written as our own data.
"""

from __future__ import annotations

import orjson
import pytest
from helpers import wait_for
from lab import publish_as, running_hub
from platform_cases import (
    ABSENT,
    Call,
    CommandCase,
    Offline,
    SequenceCase,
    StateCase,
    ids,
    run_command_offline,
    run_sequence_offline,
    run_sequences_through_hub,
    run_state_offline,
    run_through_hub,
)

from spark.core.errors import PayloadError
from spark.core.mqtt import Message, MqttClient

ST = {"state_topic": "state", "command_topic": "set"}
POS = {"position_topic": "pos", "set_position_topic": "pos/set"}
TILT = {"command_topic": "set", "tilt_command_topic": "tilt/set"}

STATES = [
    StateCase("closed", ST, [("state_topic", "closed")], "closed"),
    StateCase("open", ST, [("state_topic", "open")], "open"),
    StateCase("opening", ST, [("state_topic", "opening")], "opening"),
    StateCase("closing", ST, [("state_topic", "closing")], "closing"),
    StateCase("None resets to unknown", ST, [("state_topic", "open"), ("state_topic", "None")],
              None),
    StateCase("empty payload ignored", ST, [("state_topic", "open"), ("state_topic", "")],
              "open"),
    StateCase("unknown payload ignored", ST, [("state_topic", "open"),
                                              ("state_topic", "OPEN")], "open"),
    StateCase("stopped after closing is closed", ST,
              [("state_topic", "closing"), ("state_topic", "stopped")], "closed"),
    StateCase("stopped after opening is open", ST,
              [("state_topic", "opening"), ("state_topic", "stopped")], "open"),
    StateCase("stopped while unknown is open", ST, [("state_topic", "stopped")], "open"),
    StateCase("custom state payloads", {**ST, "state_open": "OPEN", "state_closed": "CLOSE",
                                        "state_opening": "34", "state_closing": "--43",
                                        "state_stopped": "STOP"},
              [("state_topic", "34"), ("state_topic", "STOP")], "open"),
    StateCase("custom closing payload", {**ST, "state_closing": "--43"},
              [("state_topic", "--43")], "closing"),
    StateCase("value template", {**ST, "value_template": "{{ value_json.state }}"},
              [("state_topic", '{"state": "closed"}')], "closed"),
    StateCase("stopped with position 0 is closed", {**ST, **POS},
              [("position_topic", "0"), ("state_topic", "stopped")], "closed",
              {"current_position": 0}),
    StateCase("stopped with position 30 is open", {**ST, **POS},
              [("position_topic", "30"), ("state_topic", "stopped")], "open",
              {"current_position": 30}),
    StateCase("position without state topic: 0 is closed", POS, [("position_topic", "0")],
              "closed", {"current_position": 0}),
    StateCase("position without state topic: 50 is open", POS, [("position_topic", "50")],
              "open", {"current_position": 50}),
    StateCase("position does not set the state when a state topic exists", {**ST, **POS},
              [("state_topic", "closed"), ("position_topic", "50")], "closed",
              {"current_position": 50}),
    StateCase("position above the range is clamped", POS, [("position_topic", "120")], "open",
              {"current_position": 100}),
    StateCase("position not numeric ignored", POS,
              [("position_topic", "40"), ("position_topic", "abc")], "open",
              {"current_position": 40}),
    StateCase("position range 0..255", {**POS, "position_open": 255, "position_closed": 0},
              [("position_topic", "127")], "open", {"current_position": 49}),
    StateCase("position range inverted", {**POS, "position_open": 0, "position_closed": 100},
              [("position_topic", "30")], "open", {"current_position": 70}),
    StateCase("position range inverted, closed", {**POS, "position_open": 0,
                                                  "position_closed": 100},
              [("position_topic", "100")], "closed", {"current_position": 0}),
    StateCase("position template", {**POS, "position_template": "{{ value_json.pos }}"},
              [("position_topic", '{"pos": 37}')], "open", {"current_position": 37}),
    StateCase("position template returning JSON with tilt",
              {**POS, "tilt_command_topic": "tilt/set", "position_template":
               '{"position": {{ value_json.Var1 }}, "tilt_position": {{ value_json.Var2 }} }'},
              [("position_topic", '{"Var1": 9, "Var2": 30}')], "open",
              {"current_position": 9, "current_tilt_position": 30}),
    StateCase("position JSON without position ignored",
              {**POS, "position_template": '{"tilt_position": 4}'},
              [("position_topic", "x")], None, {"current_position": ABSENT}),
    StateCase("json attributes cannot overwrite the position",
              {**POS, "json_attributes_topic": "attrs"},
              [("position_topic", "40"),
               ("json_attributes_topic", '{"current_position": 3, "battery": 90}')],
              "open", {"current_position": 40, "battery": 90}),
    StateCase("tilt status", {**TILT, "tilt_status_topic": "tilt"}, [("tilt_status_topic", "50")],
              None, {"current_tilt_position": 50}),
    StateCase("tilt status in 0..180", {**TILT, "tilt_status_topic": "tilt", "tilt_max": 180},
              [("tilt_status_topic", "90")], None, {"current_tilt_position": 50}),
    StateCase("tilt status out of range ignored",
              {**TILT, "tilt_status_topic": "tilt", "tilt_max": 180},
              [("tilt_status_topic", "90"), ("tilt_status_topic", "200")], None,
              {"current_tilt_position": 50}),
    StateCase("tilt status inverted range",
              {**TILT, "tilt_status_topic": "tilt", "tilt_min": 180, "tilt_max": 0},
              [("tilt_status_topic", "45")], None, {"current_tilt_position": 75}),
    StateCase("tilt status template",
              {**TILT, "tilt_status_topic": "tilt",
               "tilt_status_template": "{{ value_json.Var1 }}"},
              [("tilt_status_topic", '{"Var1": "60"}')], None, {"current_tilt_position": 60}),
    StateCase("tilt status not numeric ignored", {**TILT, "tilt_status_topic": "tilt"},
              [("tilt_status_topic", "20"), ("tilt_status_topic", "ten")], None,
              {"current_tilt_position": 20}),
]

COMMANDS = [
    CommandCase("open waits for the state", ST, "open_cover", {}, [("command_topic", "OPEN")],
                state=None),
    CommandCase("open optimistic", {"command_topic": "set"}, "open_cover", {},
                [("command_topic", "OPEN")], state="open"),
    CommandCase("close optimistic", {"command_topic": "set"}, "close_cover", {},
                [("command_topic", "CLOSE")], state="closed"),
    CommandCase("stop", ST, "stop_cover", {}, [("command_topic", "STOP")]),
    CommandCase("custom payloads", {**ST, "payload_open": "UP", "payload_stop": "HALT"},
                "open_cover", {}, [("command_topic", "UP")]),
    CommandCase("command_template is not used", {**ST, "command_template": "X{{ value }}"},
                "close_cover", {}, [("command_topic", "CLOSE")]),
    CommandCase("open optimistic sets position 100", {**ST, **POS, "optimistic": True},
                "open_cover", {}, [("command_topic", "OPEN")], state="open",
                attrs={"current_position": 100}),
    CommandCase("set position", {**ST, **POS}, "set_cover_position", {"position": 62},
                [("set_position_topic", "62")], state=None),
    CommandCase("set position template", {**POS, "set_position_template": "{{ 100 - value }}"},
                "set_cover_position", {"position": 62}, [("set_position_topic", "38")]),
    CommandCase("set position template variables",
                {**POS, "position_open": 255, "set_position_template":
                 '{"p": {{ position }}, "v": {{ value }}, "max": {{ position_open }}}'},
                "set_cover_position", {"position": 50},
                [("set_position_topic", '{"p": 50, "v": 128, "max": 255}')]),
    CommandCase("set position in range 0..255", {**POS, "position_open": 255},
                "set_cover_position", {"position": 50}, [("set_position_topic", "128")]),
    CommandCase("set position inverted range", {**POS, "position_open": 0,
                                                "position_closed": 100},
                "set_cover_position", {"position": 30}, [("set_position_topic", "70")]),
    CommandCase("set position optimistic", {**POS, "optimistic": True}, "set_cover_position",
                {"position": 0}, [("set_position_topic", "0")], state="closed",
                attrs={"current_position": 0}),
    CommandCase("position-only cover is not optimistic", POS, "set_cover_position",
                {"position": 40}, [("set_position_topic", "40")], state=None,
                attrs={"current_position": ABSENT}),
    CommandCase("tilt open optimistic", TILT, "open_cover_tilt", {},
                [("tilt_command_topic", "100")], attrs={"current_tilt_position": 100}),
    CommandCase("tilt close optimistic", TILT, "close_cover_tilt", {},
                [("tilt_command_topic", "0")], attrs={"current_tilt_position": 0}),
    CommandCase("tilt open custom value", {**TILT, "tilt_opened_value": 180, "tilt_max": 180},
                "open_cover_tilt", {}, [("tilt_command_topic", "180")],
                attrs={"current_tilt_position": 100}),
    CommandCase("tilt position scaled", {**TILT, "tilt_max": 180}, "set_cover_tilt_position",
                {"tilt_position": 50}, [("tilt_command_topic", "90")],
                attrs={"current_tilt_position": 50}),
    CommandCase("tilt command template",
                {**TILT, "tilt_max": 180, "tilt_command_template":
                 '{"tilt": {{ tilt_position }}, "value": {{ value }}}'},
                "set_cover_tilt_position", {"tilt_position": 50},
                [("tilt_command_topic", '{"tilt": 50, "value": 90}')]),
    CommandCase("tilt stop", TILT, "stop_cover_tilt", {}, [("tilt_command_topic", "STOP")]),
    CommandCase("tilt with status topic is not optimistic",
                {**TILT, "tilt_status_topic": "tilt"}, "open_cover_tilt", {},
                [("tilt_command_topic", "100")], attrs={"current_tilt_position": ABSENT}),
    CommandCase("toggle closed opens", ST, "toggle", {}, [("command_topic", "OPEN")],
                before=[("state_topic", "closed")]),
    CommandCase("toggle open closes", ST, "toggle", {}, [("command_topic", "CLOSE")],
                before=[("state_topic", "open")]),
    CommandCase("toggle moving stops", ST, "toggle", {}, [("command_topic", "STOP")],
                before=[("state_topic", "opening")]),
    CommandCase("toggle closing opens without stop", {**ST, "payload_stop": None}, "toggle", {},
                [("command_topic", "OPEN")], before=[("state_topic", "closing")]),
    CommandCase("toggle tilt closed opens", {**TILT, "tilt_status_topic": "tilt"},
                "toggle_cover_tilt", {}, [("tilt_command_topic", "100")],
                before=[("tilt_status_topic", "0")]),
    CommandCase("toggle tilt open closes", {**TILT, "tilt_status_topic": "tilt"},
                "toggle_cover_tilt", {}, [("tilt_command_topic", "0")],
                before=[("tilt_status_topic", "100")]),
    CommandCase("toggle tilt below tilt_closed_value opens",
                {**TILT, "tilt_status_topic": "tilt", "tilt_closed_value": 20},
                "toggle_cover_tilt", {}, [("tilt_command_topic", "100")],
                before=[("tilt_status_topic", "10")]),
    CommandCase("toggle tilt above tilt_closed_value closes",
                {**TILT, "tilt_status_topic": "tilt", "tilt_closed_value": 20},
                "toggle_cover_tilt", {}, [("tilt_command_topic", "20")],
                before=[("tilt_status_topic", "30")]),
    CommandCase("toggle tilt unknown closes", {**TILT, "tilt_status_topic": "tilt"},
                "toggle_cover_tilt", {}, [("tilt_command_topic", "0")]),
    CommandCase("open without payload_open", {**ST, "payload_open": None}, "open_cover", {},
                error="payload_open"),
    CommandCase("position without set_position_topic", ST, "set_cover_position",
                {"position": 5}, error="set_position_topic"),
    CommandCase("position out of range", POS, "set_cover_position", {"position": 150},
                error="outside 0..100"),
    CommandCase("position not a number", POS, "set_cover_position", {"position": "half"},
                error="not a number"),
    CommandCase("position missing", POS, "set_cover_position", {}, error="needs 'position'"),
    CommandCase("tilt without tilt_command_topic", ST, "open_cover_tilt", {},
                error="tilt_command_topic"),
    CommandCase("not a cover service", ST, "turn_on", {}, error="does not apply"),
]


# HA's CoverEntity._get_toggle_function (cover/__init__.py): stop when moving and able to, open
# when closed or closing, close when fully open (position 100) or opening, otherwise the
# opposite of the last opening / closing the cover reported (close when it never reported one).
# Only the cover's own opening / closing states set that memory: not our calls, not optimistic
# states, not positions.
OPEN_T, CLOSE_T, STOP_T = (Call("toggle", [("command_topic", p)]) for p in ("OPEN", "CLOSE",
                                                                           "STOP"))
TOGGLES = [
    SequenceCase("open, never moved: closes", ST, [("state_topic", "open"), CLOSE_T]),
    SequenceCase("unknown, never moved: closes", ST, [CLOSE_T]),
    SequenceCase("stopped part-way after opening: closes", {**ST, **POS},
                 [("state_topic", "opening"), STOP_T, ("position_topic", "40"),
                  ("state_topic", "stopped"), CLOSE_T]),
    SequenceCase("stopped part-way after closing: opens", {**ST, **POS},
                 [("state_topic", "closing"), STOP_T, ("position_topic", "40"),
                  ("state_topic", "stopped"), OPEN_T]),
    SequenceCase("open after closing (no position): opens", ST,
                 [("state_topic", "closing"), ("state_topic", "open"), OPEN_T]),
    SequenceCase("unknown after closing: opens", ST,
                 [("state_topic", "closing"), ("state_topic", "None"), OPEN_T]),
    SequenceCase("fully open closes whatever it remembers", {**ST, **POS},
                 [("state_topic", "closing"), ("position_topic", "100"),
                  ("state_topic", "open"), CLOSE_T]),
    SequenceCase("our calls do not set the memory, the cover's reports do", ST,
                 [("state_topic", "closing"), ("state_topic", "open"), OPEN_T,
                  ("state_topic", "open"), OPEN_T, ("state_topic", "opening"), STOP_T,
                  ("state_topic", "open"), CLOSE_T]),
    SequenceCase("closed or closing opens, opening closes (no stop)",
                 {**ST, "payload_stop": None},
                 [("state_topic", "opening"), CLOSE_T, ("state_topic", "closing"), OPEN_T,
                  ("state_topic", "closed"), OPEN_T]),
    SequenceCase("optimistic: closes, then opens, then closes", {"command_topic": "set"},
                 [CLOSE_T, OPEN_T, CLOSE_T]),
    SequenceCase("position-only cover part-way: closes",
                 {"command_topic": "set", **POS}, [("position_topic", "50"), CLOSE_T]),
    SequenceCase("another cover's memory is not this one's", ST,
                 [("state_topic", "open"), CLOSE_T]),
]


@pytest.mark.parametrize("case", STATES, ids=ids(STATES))
def test_state(case: StateCase):
    run_state_offline("cover", case)


@pytest.mark.parametrize("case", COMMANDS, ids=ids(COMMANDS))
async def test_command(case: CommandCase):
    await run_command_offline("cover", case)


@pytest.mark.parametrize(("config", "error"), [
    ({"set_position_topic": "p/set"}, "must be set together"),
    ({"command_topic": "c", "value_template": "{{ value }}"}, "must be set together"),
    ({"tilt_status_template": "{{ value }}"}, "must be set together"),
    ({"command_topic": "c", "position_open": 0}, "must differ"),
    ({"command_topic": "c", "tilt_min": 100}, "must differ"),
])
def test_discovery_rules(config, error):
    with pytest.raises(PayloadError, match=error):
        Offline().parse("cover", config)


async def test_every_case_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "cover", STATES, COMMANDS)


@pytest.mark.parametrize("case", TOGGLES, ids=ids(TOGGLES))
async def test_toggle_sequence(case: SequenceCase):
    await run_sequence_offline("cover", case)


async def test_toggle_sequences_through_the_hub_and_mosquitto(broker):
    await run_sequences_through_hub(broker, "cover", TOGGLES)


async def test_toggle_memory_outlives_a_config_update_not_a_removal():
    """HA keeps the entity (and its memory) when a new config comes; a removed and
    re-discovered cover starts afresh (close)."""
    hub = Offline()
    record = hub.add("cover", 0, ST)
    hub.feed("cover", 0, ST, [("state_topic", "closing"), ("state_topic", "open")])
    record = hub.add("cover", 0, {**ST, "payload_open": "UP"})
    await hub.services.call("toggle", record.entity_id)
    assert hub.sent[-1][1] == "UP"
    hub.remove("cover", 0)
    assert hub.registry.get(record.entity_id) is None
    record = hub.add("cover", 0, ST)
    hub.feed("cover", 0, ST, [("state_topic", "open")])
    await hub.services.call("toggle", record.entity_id)
    assert hub.sent[-1][1] == "CLOSE"


async def test_a_call_waits_for_the_cover_to_report(broker):
    """A Zigbee2MQTT-shaped blind answers OPEN with opening, then open and its position: the
    call with ``wait=True`` returns once the state is ``open`` (not ``OPEN``)."""
    cfg = broker.spark_config(nodes=[])
    pw = broker.passwords
    blind = {"name": "Blind", "unique_id": "rt_blind", "default_entity_id": "cover.rt_blind",
             "command_topic": "zigbee2mqtt/rt_blind/set",
             "state_topic": "zigbee2mqtt/rt_blind", "value_template": "{{ value_json.state }}",
             "state_open": "OPEN", "state_closed": "CLOSE", "state_opening": "OPENING",
             "state_closing": "CLOSING", "state_stopped": "STOP",
             "position_topic": "zigbee2mqtt/rt_blind", "set_position_topic":
             "zigbee2mqtt/rt_blind/set", "position_template": "{{ value_json.position }}",
             "set_position_template": '{"position": {{ position }}}'}
    async with running_hub(cfg, pw["hub"]) as hub, \
            MqttClient(cfg.mqtt, "rt-blind", username="zigbee2mqtt",
                       password=pw["zigbee2mqtt"]) as device:
        def on_command(msg: Message) -> None:
            if msg.payload == b"OPEN":
                device.publish("zigbee2mqtt/rt_blind", b'{"state": "OPENING", "position": 40}', 1)
                device.publish("zigbee2mqtt/rt_blind", b'{"state": "OPEN", "position": 100}', 1)

        device.subscribe("zigbee2mqtt/rt_blind/set", on_command, 1)
        await device.wait_connected(10)
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/cover/rt_blind/cover/config", orjson.dumps(blind),
             False),
            ("zigbee2mqtt/rt_blind", b'{"state": "CLOSE", "position": 0}', False)])
        reg = hub.registry
        await wait_for(lambda: reg.get("cover.rt_blind") is not None
                       and reg.get("cover.rt_blind").state == "closed", 10)
        result = await hub.services.call("open_cover", "cover.rt_blind", wait=True)
        assert result["state"] == "open" and result["payload"] == "OPEN"
        await wait_for(lambda: reg.get("cover.rt_blind").attributes.get("current_position")
                       == 100, 5)
