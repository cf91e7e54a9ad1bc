"""The simple platforms (``sensor``, ``binary_sensor``, ``switch``, ``button``, ``number``,
``select``) as tables of Home Assistant's cases, after HA's ``tests/components/mqtt/
test_sensor.py``, ``test_binary_sensor.py``, ``test_switch.py``, ``test_button.py``,
``test_number.py`` and ``test_select.py`` (their platform-specific cases; the shared ones are in
test_platform_common.py), each run offline and through hub + Mosquitto."""

from __future__ import annotations

import pytest
from ha_cases import Case, Offline, ids, run_offline, run_through_hub

S = {"state_topic": "state"}
U = {**S, "unit_of_measurement": "fav unit"}
SENSOR = [
    Case("value by topic", U, [("state_topic", "100.22")], state="100.22"),
    Case("value template", {**U, "value_template": "{{ value_json.val }}"},
         [("state_topic", '{ "val": "100" }')], state="100"),
    Case("numeric: not a number keeps the state", U, [("state_topic", "1"),
                                                     ("state_topic", "abc")], state="1"),
    Case("numeric: empty ignored", U, [("state_topic", "1"), ("state_topic", "")], state="1"),
    Case("None resets", U, [("state_topic", "1"), ("state_topic", "None")], state=None),
    Case("text sensor takes any text", S, [("state_topic", "hello world")],
         state="hello world"),
    Case("text sensor: empty is a value", S, [("state_topic", "x"), ("state_topic", "")],
         state=""),
    Case("state class makes it numeric", {**S, "state_class": "measurement"},
         [("state_topic", "3"), ("state_topic", "three")], state="3"),
    Case("enum in options", {**S, "device_class": "enum", "options": ["low", "high"]},
         [("state_topic", "high")], state="high"),
    Case("enum not in options rejected", {**S, "device_class": "enum",
                                          "options": ["low", "high"]},
         [("state_topic", "low"), ("state_topic", "mid")], state="low"),
    Case("timestamp in UTC", {**S, "device_class": "timestamp"},
         [("state_topic", "2021-11-18T20:25:00+01:00")], state="2021-11-18T19:25:00+00:00"),
    Case("timestamp without zone rejected", {**S, "device_class": "timestamp"},
         [("state_topic", "2021-11-18T19:25:00")], state=None),
    Case("timestamp not parsable rejected", {**S, "device_class": "timestamp"},
         [("state_topic", "2021-11-18T19:25:00+00:00"), ("state_topic", "invalid")],
         state="2021-11-18T19:25:00+00:00"),
    Case("date", {**S, "device_class": "date"}, [("state_topic", "2021-11-18")],
         state="2021-11-18"),
    Case("date not parsable rejected", {**S, "device_class": "date"},
         [("state_topic", "not a date")], state=None),
    Case("entity_category config refused", {**S, "entity_category": "config"}, refused=True),
]

BINARY = [
    Case("ON is on", S, [("state_topic", "ON")], state="on"),
    Case("OFF is off", S, [("state_topic", "ON"), ("state_topic", "OFF")], state="off"),
    Case("None resets", S, [("state_topic", "ON"), ("state_topic", "None")], state=None),
    Case("empty ignored", S, [("state_topic", "ON"), ("state_topic", "")], state="on"),
    Case("unknown payload ignored", S, [("state_topic", "ON"), ("state_topic", "beer")],
         state="on"),
    Case("custom payloads", {**S, "payload_on": "1", "payload_off": "0"},
         [("state_topic", "1")], state="on"),
    Case("value template", {**S, "value_template": "{{ value | upper }}"},
         [("state_topic", "on")], state="on"),
    Case("template to empty ignored",
         {**S, "value_template": "{% if value == 'x' %}ON{% endif %}"},
         [("state_topic", "x"), ("state_topic", "y")], state="on"),
]

SW = {"state_topic": "state", "command_topic": "set"}
SWITCH = [
    Case("ON is on", SW, [("state_topic", "ON")], state="on"),
    Case("custom state payloads", {**SW, "state_on": "HIGH", "state_off": "LOW"},
         [("state_topic", "LOW")], state="off"),
    Case("payload_on is the state without state_on", {**SW, "payload_on": "1"},
         [("state_topic", "1")], state="on"),
    Case("None resets", SW, [("state_topic", "ON"), ("state_topic", "None")], state=None),
    Case("empty ignored", SW, [("state_topic", "ON"), ("state_topic", "")], state="on"),
    Case("turn_on", SW, call=("turn_on", {}), published=[("command_topic", "ON")]),
    Case("turn_off with custom payload", {**SW, "payload_off": "beer off"},
         call=("turn_off", {}), published=[("command_topic", "beer off")]),
    Case("command template", {**SW, "command_template": '{"state": "{{ value }}"}'},
         call=("turn_on", {}), published=[("command_topic", '{"state": "ON"}')]),
    Case("optimistic without state topic", {"command_topic": "set"}, call=("turn_on", {}),
         published=[("command_topic", "ON")], state="on"),
    Case("not optimistic with a state topic", SW, [("state_topic", "OFF")],
         call=("turn_on", {}), published=[("command_topic", "ON")], state="off"),
    Case("toggle", {"command_topic": "set"}, call=("toggle", {}),
         published=[("command_topic", "ON")], state="on"),
    Case("without command topic refused", S, refused=True),
]

BUTTON = [
    Case("press", {"command_topic": "set"}, call=("press", {}),
         published=[("command_topic", "PRESS")]),
    Case("custom payload", {"command_topic": "set", "payload_press": "beer press"},
         call=("press", {}), published=[("command_topic", "beer press")]),
    Case("command template", {"command_topic": "set", "command_template": '{"p": "{{ value }}"}'},
         call=("press", {}), published=[("command_topic", '{"p": "PRESS"}')]),
    Case("without command topic refused", {"name": "x"}, refused=True),
]

N = {"state_topic": "state", "command_topic": "set"}
NUMBER = [
    Case("value by topic", N, [("state_topic", "10")], state="10"),
    Case("float value", N, [("state_topic", "20.5")], state="20.5"),
    Case("value template", {**N, "value_template": "{{ value_json.val }}"},
         [("state_topic", '{"val": 10}')], state="10"),
    Case("out of range keeps the state", N, [("state_topic", "10"), ("state_topic", "101")],
         state="10"),
    Case("custom range", {**N, "min": -10, "max": 500}, [("state_topic", "-5")], state="-5"),
    Case("not a number keeps the state", N, [("state_topic", "10"), ("state_topic", "abc")],
         state="10"),
    Case("empty ignored", N, [("state_topic", "10"), ("state_topic", "")], state="10"),
    Case("payload_reset", {**N, "payload_reset": "reset!"},
         [("state_topic", "10"), ("state_topic", "reset!")], state=None),
    Case("set value", N, call=("set_value", {"value": 30}),
         published=[("command_topic", "30")]),
    Case("set whole float as int", N, call=("set_value", {"value": 42.0}),
         published=[("command_topic", "42")]),
    Case("set float", N, call=("set_value", {"value": 42.1}),
         published=[("command_topic", "42.1")]),
    Case("command template", {**N, "command_template": '{"number": {{ value }}}'},
         call=("set_value", {"value": 10}), published=[("command_topic", '{"number": 10}')]),
    Case("optimistic", {"command_topic": "set"}, call=("set_value", {"value": 7}),
         published=[("command_topic", "7")], state="7"),
    Case("out of range refused", N, call=("set_value", {"value": 101}), error="outside"),
    Case("min not below max refused", {**N, "min": 10, "max": 10}, refused=True),
    Case("without command topic refused", S, refused=True),
]

OPT = {"state_topic": "state", "command_topic": "set", "options": ["milk", "beer"]}
SELECT = [
    Case("option by topic", OPT, [("state_topic", "milk")], state="milk"),
    Case("not an option keeps the state", OPT, [("state_topic", "milk"),
                                              ("state_topic", "water")], state="milk"),
    Case("empty ignored", OPT, [("state_topic", "milk"), ("state_topic", "")], state="milk"),
    Case("none in any case resets", OPT, [("state_topic", "milk"), ("state_topic", "NoNe")],
         state=None),
    Case("value template", {**OPT, "value_template": "{{ value_json.val }}"},
         [("state_topic", '{"val": "beer"}')], state="beer"),
    Case("select option", OPT, call=("select_option", {"option": "beer"}),
         published=[("command_topic", "beer")]),
    Case("command template", {**OPT, "command_template": '{"option": "{{ value }}"}'},
         call=("select_option", {"option": "beer"}),
         published=[("command_topic", '{"option": "beer"}')]),
    Case("optimistic", {"command_topic": "set", "options": ["milk", "beer"]},
         call=("select_option", {"option": "milk"}), published=[("command_topic", "milk")],
         state="milk"),
    Case("not an option refused", OPT, call=("select_option", {"option": "water"}),
         error="not an option"),
    Case("without options refused", {"command_topic": "set"}, refused=True),
]

TABLES = {"sensor": SENSOR, "binary_sensor": BINARY, "switch": SWITCH, "button": BUTTON,
          "number": NUMBER, "select": SELECT}
ALL = [(platform, case) for platform, cases in TABLES.items() for case in cases]


@pytest.mark.parametrize(("platform", "case"), ALL, ids=[f"{p}-{c.name}" for p, c in ALL])
async def test_case(platform: str, case: Case):
    await run_offline(platform, case)


@pytest.mark.parametrize("platform", sorted(TABLES))
async def test_cases_through_hub_and_mosquitto(broker, platform: str):
    await run_through_hub(broker, platform, TABLES[platform])


async def test_a_button_press_is_its_state():
    hub = Offline()
    await hub.announce("button", 0, {"command_topic": "set"})
    record = hub.get("button")
    assert record is not None and record.state is None
    await hub.services.call("press", record.entity_id)
    assert record.state is not None and record.state.startswith("20")
    assert ids(BUTTON)
