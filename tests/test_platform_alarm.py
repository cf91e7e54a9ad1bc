"""``alarm_control_panel`` (core/platforms/alarm_control_panel.py) as a table of Home Assistant's
cases, after HA's ``tests/components/mqtt/test_alarm_control_panel.py``: every alarm state by
topic, unknown and ``None`` payloads, value templates; each service's default payload; local
codes (right, wrong, missing), ``REMOTE_CODE`` / ``REMOTE_CODE_TEXT``, the ``code_*_required``
switches, ``command_template`` with ``action`` and ``code``; ``supported_features``;
``code_format``; configs without state or command topic refused."""

from __future__ import annotations

import pytest
from ha_cases import Case, ids, run_offline, run_through_hub

from spark.core.platforms import platform_for

ALARM = {"state_topic": "state", "command_topic": "set"}
CODE = {**ALARM, "code": "0123"}
STATES = ["disarmed", "armed_home", "armed_away", "armed_night", "armed_vacation",
          "armed_custom_bypass", "pending", "triggered", "arming", "disarming"]
PAYLOADS = {"alarm_arm_home": "ARM_HOME", "alarm_arm_away": "ARM_AWAY",
            "alarm_arm_night": "ARM_NIGHT", "alarm_arm_vacation": "ARM_VACATION",
            "alarm_arm_custom_bypass": "ARM_CUSTOM_BYPASS", "alarm_disarm": "DISARM",
            "alarm_trigger": "TRIGGER"}
TEMPLATE = '{"action":"{{ action }}","code":"{{ code }}"}'

CASES = [
    *[Case(f"state {s}", ALARM, [("state_topic", s)], state=s) for s in STATES],
    Case("unknown payload ignored", ALARM, [("state_topic", "armed_home"),
                                           ("state_topic", "unsupported state")],
         state="armed_home"),
    Case("empty payload ignored", ALARM, [("state_topic", "disarmed"), ("state_topic", "")],
         state="disarmed"),
    Case("None resets to unknown", ALARM, [("state_topic", "disarmed"),
                                          ("state_topic", "None")], state=None),
    Case("state via value template",
         {**ALARM, "value_template":
          "{% if (value | int) == 100 %}armed_away{% else %}disarmed{% endif %}"},
         [("state_topic", "100")], state="armed_away"),
    Case("template output is stripped",
         {**ALARM, "value_template": "  {% if (value | int) == 100 %}  armed_away  "
                                     "{% else %}  disarmed  {% endif %}  "},
         [("state_topic", "100")], state="armed_away"),
    Case("state via JSON template", {**ALARM, "value_template": "{{ value_json.state }}"},
         [("state_topic", '{"state": "triggered"}')], state="triggered"),
    *[Case(f"{svc} publishes {payload}", ALARM, call=(svc, {}),
           published=[("command_topic", payload)]) for svc, payload in PAYLOADS.items()],
    Case("custom payloads", {**ALARM, "payload_arm_away": "AWAY", "payload_disarm": "OFF",
                             "payload_trigger": "PANIC"},
         call=("alarm_arm_away", {}), published=[("command_topic", "AWAY")]),
    Case("abbreviated keys", {"stat_t": "state", "cmd_t": "set", "pl_arm_nite": "NIGHT"},
         call=("alarm_arm_night", {}), published=[("command_topic", "NIGHT")]),
    Case("right code publishes", CODE, call=("alarm_arm_home", {"code": "0123"}),
         published=[("command_topic", "ARM_HOME")]),
    Case("wrong code refused", CODE, call=("alarm_arm_home", {"code": "abcd"}),
         error="wrong code"),
    Case("missing code refused", CODE, call=("alarm_disarm", {}), error="needs a code"),
    Case("wrong code refused for trigger", CODE, call=("alarm_trigger", {"code": "1"}),
         error="wrong code"),
    Case("a numeric code in the config is text", {**ALARM, "code": 1234},
         call=("alarm_disarm", {"code": 1234}), published=[("command_topic", "DISARM")]),
    Case("remote code: any code passes", {**ALARM, "code": "REMOTE_CODE"},
         call=("alarm_arm_away", {"code": "abcd"}), published=[("command_topic", "ARM_AWAY")]),
    Case("remote code: none refused", {**ALARM, "code": "REMOTE_CODE"},
         call=("alarm_arm_away", {}), error="needs a code"),
    Case("remote text code: any code passes", {**ALARM, "code": "REMOTE_CODE_TEXT"},
         call=("alarm_disarm", {"code": "open sesame"}), published=[("command_topic", "DISARM")]),
    Case("remote text code: empty refused", {**ALARM, "code": "REMOTE_CODE_TEXT"},
         call=("alarm_disarm", {"code": ""}), error="needs a code"),
    Case("code not required to arm", {**CODE, "code_arm_required": False},
         call=("alarm_arm_home", {}), published=[("command_topic", "ARM_HOME")]),
    Case("code not required to arm, wrong one ignored", {**CODE, "code_arm_required": False},
         call=("alarm_arm_vacation", {"code": "9999"}),
         published=[("command_topic", "ARM_VACATION")]),
    Case("code not required to disarm", {**CODE, "cod_dis_req": False},
         call=("alarm_disarm", {}), published=[("command_topic", "DISARM")]),
    Case("still required to arm when disarm needs none", {**CODE, "cod_dis_req": False},
         call=("alarm_arm_home", {}), error="needs a code"),
    Case("code not required to trigger", {**CODE, "code_trigger_required": False},
         call=("alarm_trigger", {}), published=[("command_topic", "TRIGGER")]),
    Case("template with action and code", {**CODE, "command_template": TEMPLATE},
         call=("alarm_disarm", {"code": "0123"}),
         published=[("command_topic", '{"action":"DISARM","code":"0123"}')]),
    Case("template without code", {**ALARM, "command_template": TEMPLATE},
         call=("alarm_arm_home", {}),
         published=[("command_topic", '{"action":"ARM_HOME","code":"None"}')]),
    Case("template with remote code", {**ALARM, "code": "REMOTE_CODE",
                                       "command_template": TEMPLATE},
         call=("alarm_arm_night", {"code": "4711"}),
         published=[("command_topic", '{"action":"ARM_NIGHT","code":"4711"}')]),
    Case("unsupported feature refused", {**ALARM, "supported_features": ["arm_home"]},
         call=("alarm_arm_away", {}), error="does not support arm_away"),
    Case("supported feature published", {**ALARM, "supported_features": ["arm_home"]},
         call=("alarm_arm_home", {}), published=[("command_topic", "ARM_HOME")]),
    Case("disarm always supported", {**ALARM, "supported_features": []},
         call=("alarm_disarm", {}), published=[("command_topic", "DISARM")]),
    Case("code too long refused", CODE, call=("alarm_disarm", {"code": "1" * 65}),
         error="longer than"),
    Case("code of a wrong type refused", CODE, call=("alarm_disarm", {"code": ["0123"]}),
         error="text or a number"),
    Case("code_format number", CODE, [("state_topic", "disarmed")],
         attrs={"code_format": "number", "code_arm_required": True, "changed_by": None}),
    Case("code_format text", {**ALARM, "code": "abc"}, [("state_topic", "disarmed")],
         attrs={"code_format": "text"}),
    Case("code_format remote", {**ALARM, "code": "REMOTE_CODE"}, [("state_topic", "disarmed")],
         attrs={"code_format": "number"}),
    Case("code_format remote text", {**ALARM, "code": "REMOTE_CODE_TEXT"},
         [("state_topic", "disarmed")], attrs={"code_format": "text"}),
    Case("no code, no code_format", {**ALARM, "code_arm_required": False},
         [("state_topic", "disarmed")], attrs={"code_format": None, "code_arm_required": False}),
    Case("without state topic refused", {"command_topic": "set"}, refused=True),
    Case("without command topic refused", {"state_topic": "state"}, refused=True),
    Case("unknown feature refused", {**ALARM, "supported_features": ["self_destruct"]},
         refused=True),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
async def test_alarm_case(case: Case):
    await run_offline("alarm_control_panel", case)


async def test_alarm_cases_through_hub_and_mosquitto(broker):
    await run_through_hub(broker, "alarm_control_panel", CASES)


async def test_the_code_is_never_shown_to_the_caller():
    from ha_cases import Offline
    hub = Offline()
    await hub.announce("alarm_control_panel", 0, {**CODE, "command_template": TEMPLATE})
    record = hub.get("alarm_control_panel")
    assert record is not None
    result = await hub.services.call("alarm_disarm", record.entity_id, {"code": "0123"})
    assert "0123" not in repr(result)
    assert hub.sent == [(record.spec.command_topic, '{"action":"DISARM","code":"0123"}')]
    try:
        await hub.services.call("alarm_disarm", record.entity_id, {"code": "9876"})
    except Exception as exc:
        assert "9876" not in str(exc) and "0123" not in str(exc)


def test_alarm_is_listed_for_voice_but_never_armed_by_voice():
    alarm = platform_for("alarm_control_panel")
    words = alarm.words
    assert words.listed and not words.switchable and not words.pressable and not words.setter
    assert alarm.control is not None and alarm.control.kind == "alarm"
