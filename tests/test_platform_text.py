"""``text`` (core/platforms/text.py) as a table of Home Assistant's cases, after HA's
``tests/components/mqtt/test_text.py``: state by topic and template, the length and pattern
checks on state and on ``set_value`` (refused before publishing), ``command_template``,
optimistic texts, config rules (min <= max <= 255, a valid and bounded pattern)."""

from __future__ import annotations

import pytest
from ha_cases import Case, ids, run_offline, run_through_hub

T = {"state_topic": "state", "command_topic": "set"}
V = {**T, "min": 2, "max": 5, "pattern": "^[a-z_]*$"}

CASES = [
    Case("state by topic", T, [("state_topic", "some text")], state="some text"),
    Case("empty text is a state", T, [("state_topic", "x"), ("state_topic", "")], state=""),
    Case("None resets", T, [("state_topic", "x"), ("state_topic", "None")], state=None),
    Case("value template", {**T, "value_template": "{{ value_json.val }}"},
         [("state_topic", '{"val": "hi"}')], state="hi"),
    Case("valid state", V, [("state_topic", "yes")], state="yes"),
    Case("pattern mismatch keeps the state", V, [("state_topic", "yes"),
                                                 ("state_topic", "YES")], state="yes"),
    Case("too long keeps the state", V, [("state_topic", "yes"),
                                         ("state_topic", "yesyesyesyes")], state="yes"),
    Case("too short keeps the state", V, [("state_topic", "yes"), ("state_topic", "y")],
         state="yes"),
    Case("longer than 255 ignored", T, [("state_topic", "ok"), ("state_topic", "x" * 256)],
         state="ok"),
    Case("set_value publishes", T, call=("set_value", {"value": "some other text"}),
         published=[("command_topic", "some other text")]),
    Case("set_value through a template", {**T, "command_template": '{"v": "{{ value }}"}'},
         call=("set_value", {"value": "hi"}), published=[("command_topic", '{"v": "hi"}')]),
    Case("optimistic set_value", {"command_topic": "set"}, call=("set_value", {"value": "a"}),
         published=[("command_topic", "a")], state="a"),
    Case("set_value too short refused", V, call=("set_value", {"value": "y"}),
         error="shorter than 2"),
    Case("set_value too long refused", V, call=("set_value", {"value": "abcdefgh"}),
         error="longer than 5"),
    Case("set_value pattern mismatch refused", V, call=("set_value", {"value": "NO"}),
         error="pattern"),
    Case("set_value not text refused", T, call=("set_value", {"value": ["a"]}),
         error="must be text"),
    Case("password mode", {**T, "mode": "password"}, [("state_topic", "secret")],
         state="secret"),
    Case("min greater than max refused", {**T, "min": 20, "max": 10}, refused=True),
    Case("max over 255 refused", {**T, "max": 256}, refused=True),
    Case("invalid pattern refused", {**T, "pattern": "(a"}, refused=True),
    Case("pattern over the regex bounds refused", {**T, "pattern": "((a{100}){100}){100}"},
         refused=True),
    Case("unknown mode refused", {**T, "mode": "secret"}, refused=True),
    Case("without command topic refused", {"state_topic": "state"}, refused=True),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
async def test_text_case(case: Case):
    await run_offline("text", case)


async def test_text_cases_through_hub_and_mosquitto(broker):
    await run_through_hub(broker, "text", CASES)


def test_a_catastrophic_pattern_does_not_stall():
    from spark.core.regex_guard import bounded_match
    assert bounded_match("^(a+)+$", "a" * 40 + "b") is False  # times out: no match
