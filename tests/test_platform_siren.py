"""``siren`` (core/platforms/siren.py) as a table of Home Assistant's cases, after HA's
``tests/components/mqtt/test_siren.py``: state by plain and JSON payloads, ``None`` / ``null``
resets, attributes from JSON (tone, volume, duration) only when supported and valid, the JSON
command payload without a template, ``command_template`` / ``command_off_template`` with the
turn-on variables, optimistic sirens, parameters checked before publishing."""

from __future__ import annotations

import pytest
from ha_cases import ABSENT, Case, ids, run_offline, run_through_hub

S = {"state_topic": "state", "command_topic": "set"}
T = {**S, "available_tones": ["ping", "siren", "bell"]}
TPL = {**T, "command_template": "CMD: {{ value }}, DURATION: {{ duration }}, TONE: {{ tone }}, "
            "VOLUME: {{ volume_level }}", "command_off_template": "CMD_OFF: {{ value }}"}

CASES = [
    Case("ON is on", S, [("state_topic", "ON")], state="on"),
    Case("OFF is off", S, [("state_topic", "ON"), ("state_topic", "OFF")], state="off"),
    Case("None resets", S, [("state_topic", "ON"), ("state_topic", "None")], state=None),
    Case("JSON state", S, [("state_topic", '{"state": "ON"}')], state="on"),
    Case("JSON null resets", S, [("state_topic", "ON"), ("state_topic", '{"state": null}')],
         state=None),
    Case("empty payload ignored", S, [("state_topic", "ON"), ("state_topic", "")], state="on"),
    Case("empty JSON ignored", S, [("state_topic", "ON"), ("state_topic", "{}")], state="on"),
    Case("not JSON ignored", S, [("state_topic", "OFF"), ("state_topic", "beep")], state="off"),
    Case("custom state payloads", {**S, "state_on": "alarm", "state_off": "quiet"},
         [("state_topic", "alarm")], state="on"),
    Case("payload_on is the state without state_on", {**S, "payload_on": "beer on"},
         [("state_topic", "beer on")], state="on"),
    Case("state value template", {**S, "state_value_template": "{{ value_json.val }}"},
         [("state_topic", '{"val": "ON"}')], state="on"),
    Case("JSON attributes", T, [("state_topic",
                                '{"state": "ON", "tone": "bell", "duration": 5, '
                                '"volume_level": 0.6}')],
         state="on", attrs={"tone": "bell", "duration": 5, "volume_level": 0.6,
                            "available_tones": ["ping", "siren", "bell"]}),
    Case("attributes alone keep the state", T,
         [("state_topic", "ON"), ("state_topic", '{"volume_level": 0.2}')],
         state="on", attrs={"volume_level": 0.2}),
    Case("tone not available ignored whole", T,
         [("state_topic", "OFF"), ("state_topic", '{"state": "ON", "tone": "horn"}')],
         state="off", attrs={"tone": None}),
    Case("volume out of range ignored whole", T,
         [("state_topic", '{"volume_level": 1.5}')], attrs={"volume_level": None}),
    Case("unsupported duration not kept", {**T, "support_duration": False},
         [("state_topic", '{"state": "ON", "duration": 8, "tone": "ping"}')], state="on",
         attrs={"duration": ABSENT, "tone": "ping", "volume_level": None}),
    Case("without tones no tone attributes", S,
         [("state_topic", '{"state": "ON", "tone": "ping", "duration": 22}')], state="on",
         attrs={"tone": ABSENT, "available_tones": ABSENT, "duration": 22,
                "volume_level": None}),
    Case("invalid attributes: the state is not taken either", T,
         [("state_topic", "OFF"), ("state_topic", '{"state": "ON", "duration": 6, '
                                                  '"volume_level": 2}')],
         state="off", attrs={"duration": None}),
    Case("template null resets", {**S, "state_value_template": "{{ value_json.val }}"},
         [("state_topic", '{"val": "ON"}'), ("state_topic", '{"val": null}')], state=None),
    Case("turn_on publishes JSON", {**S, "payload_on": "beer on"}, call=("turn_on", {}),
         published=[("command_topic", '{"state":"beer on"}')]),
    Case("turn_off publishes JSON", {**S, "payload_off": "beer off"}, call=("turn_off", {}),
         published=[("command_topic", '{"state":"beer off"}')]),
    Case("turn_on with parameters", T, call=("turn_on", {"tone": "ping", "duration": 22}),
         published=[("command_topic", '{"state":"ON","tone":"ping","duration":22}')]),
    Case("unsupported parameter dropped", {**T, "support_volume_set": False},
         call=("turn_on", {"volume_level": 0.5, "tone": "bell"}),
         published=[("command_topic", '{"state":"ON","tone":"bell"}')]),
    Case("tones without available_tones dropped", S, call=("turn_on", {"tone": "ping"}),
         published=[("command_topic", '{"state":"ON"}')]),
    Case("command templates", TPL,
         call=("turn_on", {"tone": "ping", "duration": 22, "volume_level": 0.88}),
         published=[("command_topic", "CMD: ON, DURATION: 22, TONE: ping, VOLUME: 0.88")]),
    Case("command off template", TPL, call=("turn_off", {}),
         published=[("command_topic", "CMD_OFF: OFF")]),
    Case("command template also for off", {**S, "command_template": "{{ value }}!"},
         call=("turn_off", {}), published=[("command_topic", "OFF!")]),
    Case("optimistic turn_on takes state and attributes",
         {"command_topic": "set", "available_tones": ["ping"]},
         call=("turn_on", {"tone": "ping", "volume_level": 0.3}),
         published=[("command_topic", '{"state":"ON","tone":"ping","volume_level":0.3}')],
         state="on", attrs={"tone": "ping", "volume_level": 0.3}),
    Case("optimistic siren starts off", {"command_topic": "set"}, state="off"),
    Case("with a state topic it starts unknown", S, state=None),
    Case("optimistic turn_off", {"command_topic": "set"}, call=("turn_off", {}),
         published=[("command_topic", '{"state":"OFF"}')], state="off"),
    Case("toggle from on turns off", S, [("state_topic", "ON")], call=("toggle", {}),
         published=[("command_topic", '{"state":"OFF"}')]),
    Case("tone not available refused", T, call=("turn_on", {"tone": "horn"}),
         error="not one of"),
    Case("volume out of range refused", T, call=("turn_on", {"volume_level": 3}),
         error="0..1"),
    Case("duration not whole refused", T, call=("turn_on", {"duration": "long"}),
         error="whole seconds"),
    Case("without command topic refused", {"state_topic": "state"}, refused=True),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
async def test_siren_case(case: Case):
    await run_offline("siren", case)


async def test_siren_cases_through_hub_and_mosquitto(broker):
    await run_through_hub(broker, "siren", CASES)
