"""``scene``, ``notify``, ``vacuum``, ``lawn_mower``, ``camera``, ``image`` and ``lock`` as tables
of Home Assistant's cases, after HA's ``tests/components/mqtt/test_scene.py``,
``test_notify.py``, ``test_vacuum.py``, ``test_lawn_mower.py``, ``test_camera.py``,
``test_image.py`` and ``test_lock.py``, each run offline and through hub + Mosquitto."""

from __future__ import annotations

import base64

import pytest
from ha_cases import ABSENT, Case, Offline, run_offline, run_through_hub

# ---- scene -------------------------------------------------------------------------------------
SCENE = [
    Case("activate publishes ON", {"command_topic": "set"}, call=("turn_on", {}),
         published=[("command_topic", "ON")]),
    Case("custom payload_on", {"command_topic": "set", "payload_on": "test-scene-on"},
         call=("turn_on", {}), published=[("command_topic", "test-scene-on")]),
    Case("abbreviated", {"cmd_t": "set", "pl_on": "go"}, call=("turn_on", {}),
         published=[("command_topic", "go")]),
    Case("without command topic refused", {"name": "x"}, refused=True),
]

# ---- notify ------------------------------------------------------------------------------------
NOTIFY = [
    Case("message published", {"command_topic": "set"},
         call=("send_message", {"message": "Hello"}), published=[("command_topic", "Hello")]),
    Case("message through a template",
         {"command_topic": "set", "command_template": '{"text": "{{ value }}"}'},
         call=("send_message", {"message": "Hi", "title": "ignored"}),
         published=[("command_topic", '{"text": "Hi"}')]),
    Case("missing message refused", {"command_topic": "set"}, call=("send_message", {}),
         error="needs a 'message'"),
    Case("message too long refused", {"command_topic": "set"},
         call=("send_message", {"message": "x" * 5000}), error="longer than"),
    Case("without command topic refused", {"name": "x"}, refused=True),
]

# ---- vacuum ------------------------------------------------------------------------------------
V = {"state_topic": "state", "command_topic": "set", "set_fan_speed_topic": "speed",
     "send_command_topic": "send", "fan_speed_list": ["min", "medium", "high", "max"],
     "supported_features": ["start", "stop", "pause", "return_home", "battery", "status",
                            "locate", "clean_spot", "fan_speed", "send_command"]}
VACUUM = [
    Case("JSON state and attributes", V, [("state_topic",
                                          '{"battery_level": 54, "state": "cleaning", '
                                          '"fan_speed": "max"}')],
         state="cleaning", attrs={"battery_level": 54, "fan_speed": "max",
                                  "fan_speed_list": ["min", "medium", "high", "max"]}),
    *[Case(f"state {s}", V, [("state_topic", f'{{"state": "{s}"}}')], state=s)
      for s in ("docked", "paused", "idle", "returning", "error")],
    Case("unknown state ignored", V, [("state_topic", '{"state": "docked"}'),
                                      ("state_topic", '{"state": "flying"}')], state="docked"),
    Case("null state resets", V, [("state_topic", '{"state": "docked"}'),
                                  ("state_topic", '{"state": null}')], state=None),
    Case("not JSON ignored", V, [("state_topic", '{"state": "idle"}'),
                                 ("state_topic", "cleaning")], state="idle"),
    Case("attributes without state", V, [("state_topic", '{"state": "idle"}'),
                                         ("state_topic", '{"battery_level": 12}')],
         state="idle", attrs={"battery_level": 12}),
    *[Case(f"{svc} publishes", V, call=(svc, {}), published=[("command_topic", svc)])
      for svc in ("start", "pause", "stop", "return_to_base", "locate", "clean_spot")],
    Case("custom payloads", {**V, "payload_return_to_base": "HOME", "payload_start": "GO"},
         call=("return_to_base", {}), published=[("command_topic", "HOME")]),
    Case("set fan speed", V, call=("set_fan_speed", {"fan_speed": "medium"}),
         published=[("set_fan_speed_topic", "medium")]),
    Case("fan speed not listed refused", V, call=("set_fan_speed", {"fan_speed": "turbo"}),
         error="one of"),
    Case("send command", V, call=("send_command", {"command": "44 FE 93"}),
         published=[("send_command_topic", "44 FE 93")]),
    Case("send command with params", V,
         call=("send_command", {"command": "44 FE 93", "params": {"key": "value"}}),
         published=[("send_command_topic", '{"command":"44 FE 93","key":"value"}')]),
    Case("default features: pause refused", {"state_topic": "state", "command_topic": "set"},
         call=("pause", {}), error="does not support pause"),
    Case("default features: start", {"state_topic": "state", "command_topic": "set"},
         call=("start", {}), published=[("command_topic", "start")]),
    Case("default features: locate refused", {"state_topic": "state", "command_topic": "set"},
         call=("locate", {}), error="does not support locate"),
    Case("default features: fan speed refused",
         {"state_topic": "state", "command_topic": "set", "set_fan_speed_topic": "speed"},
         call=("set_fan_speed", {"fan_speed": "max"}), error="does not support fan_speed"),
    Case("unknown feature refused", {**V, "supported_features": ["hover"]}, refused=True),
]

# ---- lawn_mower --------------------------------------------------------------------------------
M = {"activity_state_topic": "activity", "start_mowing_command_topic": "start",
     "pause_command_topic": "pause", "dock_command_topic": "dock"}
LAWN = [
    *[Case(f"activity {a}", M, [("activity_state_topic", a)], state=a)
      for a in ("mowing", "paused", "docked", "returning", "error")],
    Case("unknown activity ignored", M, [("activity_state_topic", "docked"),
                                         ("activity_state_topic", "flying")], state="docked"),
    Case("empty activity ignored", M, [("activity_state_topic", "docked"),
                                       ("activity_state_topic", "")], state="docked"),
    Case("none resets", M, [("activity_state_topic", "docked"),
                            ("activity_state_topic", "None")], state=None),
    Case("activity template", {**M, "activity_value_template": "{{ value_json.val }}"},
         [("activity_state_topic", '{"val": "mowing"}')], state="mowing"),
    Case("activity template null resets", {**M, "activity_value_template": "{{ value_json.val }}"},
         [("activity_state_topic", '{"val": "mowing"}'), ("activity_state_topic", '{"val": null}')],
         state=None),
    Case("start mowing", M, call=("start_mowing", {}),
         published=[("start_mowing_command_topic", "start_mowing")]),
    Case("pause", M, call=("pause", {}), published=[("pause_command_topic", "pause")]),
    Case("dock", M, call=("dock", {}), published=[("dock_command_topic", "dock")]),
    Case("command templates", {**M, "dock_command_template": '{"action": "{{ value }}"}'},
         call=("dock", {}), published=[("dock_command_topic", '{"action": "dock"}')]),
    Case("optimistic without activity topic",
         {"start_mowing_command_topic": "start", "pause_command_topic": "pause"},
         call=("start_mowing", {}), published=[("start_mowing_command_topic", "start_mowing")],
         state="mowing"),
    Case("optimistic pause", {**M, "optimistic": True}, call=("pause", {}),
         published=[("pause_command_topic", "pause")], state="paused"),
    Case("not optimistic waits for the mower", M, [("activity_state_topic", "docked")],
         call=("start_mowing", {}), published=[("start_mowing_command_topic", "start_mowing")],
         state="docked"),
    Case("no dock topic refused", {"activity_state_topic": "activity",
                                   "pause_command_topic": "pause"},
         call=("dock", {}), error="does not support dock"),
]

# ---- camera and image --------------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
CAMERA = [
    Case("raw picture", {"topic": "snap"}, [("topic", PNG)], state="idle"),
    Case("b64 picture", {"topic": "snap", "image_encoding": "b64"},
         [("topic", base64.b64encode(PNG))], state="idle"),
    Case("bad b64 ignored", {"topic": "snap", "image_encoding": "b64"}, [("topic", b"@@@")],
         state=None),
    Case("without topic refused", {"name": "x"}, refused=True),
]
IMAGE = [
    Case("raw picture", {"image_topic": "img", "content_type": "image/png"},
         [("image_topic", PNG)]),
    Case("b64 picture", {"image_topic": "img", "image_encoding": "b64"},
         [("image_topic", base64.b64encode(PNG))]),
    Case("url", {"url_topic": "url"}, [("url_topic", "http://example.com/a.png")],
         attrs={"url": "http://example.com/a.png"}),
    Case("url template", {"url_topic": "url", "url_template": "{{ value_json.u }}"},
         [("url_topic", '{"u": "https://example.com/b.jpg"}')],
         attrs={"url": "https://example.com/b.jpg"}),
    Case("not a web url ignored", {"url_topic": "url"}, [("url_topic", "file:///etc/passwd")],
         state=None, attrs={"url": ABSENT}),
    Case("both sources refused", {"image_topic": "img", "url_topic": "url"}, refused=True),
    Case("neither source refused", {"name": "x"}, refused=True),
    Case("content_type with url refused", {"url_topic": "url", "content_type": "image/png"},
         refused=True),
]

# ---- lock (the module on main, checked against HA's test_lock.py) ----------------------------
L = {"state_topic": "state", "command_topic": "set"}
LOCK = [
    *[Case(f"state {p}", L, [("state_topic", p)], state=s)
      for p, s in (("LOCKED", "locked"), ("UNLOCKED", "unlocked"), ("LOCKING", "locking"),
                   ("UNLOCKING", "unlocking"), ("JAMMED", "jammed"), ("OPEN", "open"),
                   ("OPENING", "opening"))],
    Case("None resets", L, [("state_topic", "LOCKED"), ("state_topic", "None")], state=None),
    Case("custom reset", {**L, "payload_reset": "RESET"},
         [("state_topic", "LOCKED"), ("state_topic", "RESET")], state=None),
    Case("unknown payload keeps the state", L, [("state_topic", "LOCKED"),
                                                ("state_topic", "BROKEN")], state="locked"),
    Case("empty payload keeps the state", L, [("state_topic", "LOCKED"), ("state_topic", "")],
         state="locked"),
    Case("custom states", {**L, "state_locked": "closed", "state_unlocked": "free"},
         [("state_topic", "free")], state="unlocked"),
    Case("value template", {**L, "value_template": "{{ value_json.val }}"},
         [("state_topic", '{"val": "JAMMED"}')], state="jammed"),
    Case("lock publishes", L, call=("lock", {}), published=[("command_topic", "LOCK")]),
    Case("unlock publishes", L, call=("unlock", {}), published=[("command_topic", "UNLOCK")]),
    Case("open publishes payload_open", {**L, "payload_open": "OPEN"}, call=("open", {}),
         published=[("command_topic", "OPEN")]),
    Case("open without payload_open refused", L, call=("open", {}), error="payload_open"),
    Case("command template", {**L, "command_template": '{"cmd": "{{ value }}"}'},
         call=("lock", {}), published=[("command_topic", '{"cmd": "LOCK"}')]),
    Case("not optimistic: state waits for the lock", L, [("state_topic", "UNLOCKED")],
         call=("lock", {}), published=[("command_topic", "LOCK")], state="unlocked"),
    Case("optimistic without state topic", {"command_topic": "set"}, call=("lock", {}),
         published=[("command_topic", "LOCK")], state="locked"),
    Case("optimistic open", {"command_topic": "set", "payload_open": "OPEN"},
         call=("open", {}), published=[("command_topic", "OPEN")], state="open"),
    Case("optimistic by config", {**L, "optimistic": True}, [("state_topic", "LOCKED")],
         call=("unlock", {}), published=[("command_topic", "UNLOCK")], state="unlocked"),
    Case("without command topic refused", {"state_topic": "state"}, refused=True),
]

TABLES = {"scene": SCENE, "notify": NOTIFY, "vacuum": VACUUM, "lawn_mower": LAWN,
          "camera": CAMERA, "image": IMAGE, "lock": LOCK}
ALL = [(platform, case) for platform, cases in TABLES.items() for case in cases]


@pytest.mark.parametrize(("platform", "case"), ALL,
                         ids=[f"{p}-{c.name}" for p, c in ALL])
async def test_case(platform: str, case: Case):
    hub = await run_offline(platform, case)
    if case.name in ("raw picture", "b64 picture"):  # camera and image keep the decoded picture
        record = hub.get(platform)
        assert record is not None and record.image == PNG


@pytest.mark.parametrize("platform", sorted(TABLES))
async def test_cases_through_hub_and_mosquitto(broker, platform: str):
    await run_through_hub(broker, platform, TABLES[platform])


async def test_scene_and_notify_states_are_their_last_use():
    hub = Offline()
    await hub.announce("scene", 0, {"command_topic": "set"})
    record = hub.get("scene")
    assert record is not None and record.state is None
    await hub.services.call("turn_on", record.entity_id)
    assert record.state is not None and record.state.startswith("20")
