"""The ``lock`` platform (core/platforms/lock.py): HA's MQTT lock semantics, alone and through a
real hub and Mosquitto with a third-party lock answering its commands.

Cases after Home Assistant's ``tests/components/mqtt/test_lock.py`` (state via topic with default
and custom payloads, reset, templates, open only with ``payload_open``, optimistic without a
state topic), written for our hub.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from helpers import wait_for
from lab import publish_as, recorder, running_hub
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

from spark.core.discovery import DiscoveredEntity, parse_discovery
from spark.core.errors import PayloadError, ServiceError
from spark.core.mqtt import Message, MqttClient
from spark.core.platforms import platform_for
from spark.core.topics import DiscoveryTopic
from spark.hub.entity import EntityRecord
from spark.hub.services import HIDDEN

LOCK = platform_for("lock")


def lock_record(config: dict[str, Any]) -> EntityRecord:
    topic = DiscoveryTopic("lock", "door", "front")
    (spec,) = parse_discovery(topic, orjson.dumps({"unique_id": "door-1", **config}))
    assert isinstance(spec, DiscoveredEntity)
    return EntityRecord("lock.front", spec.key, spec, None)


def test_the_catalogue_knows_lock_with_its_services_and_control():
    assert LOCK.name == "lock" and LOCK.services == ("lock", "unlock", "open")
    assert LOCK.control is not None and LOCK.control.call(True) == ("lock", {})
    assert LOCK.control.call(False) == ("unlock", {})
    assert LOCK.words.listed and not LOCK.words.switchable


@pytest.mark.parametrize(("payload", "state"), [
    (b"LOCKED", "locked"), (b"UNLOCKED", "unlocked"), (b"LOCKING", "locking"),
    (b"UNLOCKING", "unlocking"), (b"JAMMED", "jammed"), (b"OPEN", "open"),
    (b"OPENING", "opening"), (b"None", None),
])
def test_state_via_topic_with_default_payloads(payload: bytes, state: str | None):
    record = lock_record({"state_topic": "door/state", "command_topic": "door/set"})
    assert LOCK.state(record, payload) == state


def test_state_via_topic_with_custom_payloads_and_reset():
    record = lock_record({
        "stat_t": "door/state", "cmd_t": "door/set", "stat_locked": "closed",
        "stat_unlocked": "free", "stat_jam": "stuck", "pl_rst": "RESET",
    })
    assert LOCK.state(record, b"closed") == "locked"
    assert LOCK.state(record, b"free") == "unlocked"
    assert LOCK.state(record, b"stuck") == "jammed"
    assert LOCK.state(record, b"RESET") is None
    with pytest.raises(PayloadError, match="not a lock state"):
        LOCK.state(record, b"LOCKED")  # the defaults no longer apply


def test_commands_and_open_only_when_configured():
    plain = lock_record({"state_topic": "door/state", "command_topic": "door/set",
                         "payload_lock": "CLOSE"})
    assert (LOCK.command(plain, "lock", {}).payload,
            LOCK.command(plain, "lock", {}).expect) == ("CLOSE", "locked")
    assert LOCK.command(plain, "unlock", {}).payload == "UNLOCK"
    with pytest.raises(ServiceError, match="payload_open"):
        LOCK.command(plain, "open", {})
    with pytest.raises(ServiceError, match="does not apply"):
        LOCK.command(plain, "turn_on", {})
    opener = lock_record({"command_topic": "door/set", "pl_open": "UNLATCH"})
    assert LOCK.command(opener, "open", {}).payload == "UNLATCH"


def test_discovery_needs_a_command_topic():
    with pytest.raises(PayloadError, match="command_topic"):
        lock_record({"state_topic": "door/state"})


# ---- through the hub, against Mosquitto -------------------------------------------------------
DOOR = {
    "name": "Front door", "unique_id": "z2m_front_door_lock", "object_id": "front_door",
    "state_topic": "zigbee2mqtt/front_door", "command_topic": "zigbee2mqtt/front_door/set",
    "value_template": "{{ value_json.state }}",
    "command_template": '{"state": "{{ value }}"}',
    "payload_open": "OPEN",
    "device": {"identifiers": ["zigbee2mqtt_0x00aa"], "name": "front_door"},
}
SHED = {  # no state topic: optimistic
    "name": "Shed", "unique_id": "z2m_shed_lock", "object_id": "shed",
    "command_topic": "zigbee2mqtt/shed/set",
}


@pytest.fixture
def cfg(broker):
    return broker.spark_config(nodes=[])


async def test_lock_round_trip_through_the_hub(broker, cfg):
    pw = broker.passwords
    answers = {"LOCK": ("LOCKING", "LOCKED"), "UNLOCK": ("UNLOCKING", "UNLOCKED"),
               "OPEN": ("OPENING", "OPEN")}
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], "zigbee2mqtt/shed/set") as rec, \
            MqttClient(cfg.mqtt, "door-device", username="zigbee2mqtt",
                       password=pw["zigbee2mqtt"]) as device:
        def on_command(msg: Message) -> None:  # the lock: moves, then reports where it is
            for state in answers[orjson.loads(msg.payload)["state"]]:
                device.publish("zigbee2mqtt/front_door", orjson.dumps({"state": state}), 1)

        device.subscribe("zigbee2mqtt/front_door/set", on_command, 1)
        await device.wait_connected(10)
        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("homeassistant/lock/0x00aa/lock/config", orjson.dumps(DOOR), True),
            ("homeassistant/lock/0x00bb/lock/config", orjson.dumps(SHED), True),
            ("zigbee2mqtt/front_door", b'{"state": "UNLOCKED"}', True),
        ])
        reg, services = hub.registry, hub.services
        await wait_for(lambda: reg.get("lock.front_door") is not None
                       and reg.get("lock.front_door").state == "unlocked"
                       and reg.get("lock.shed") is not None, 10)

        result = await services.call("lock", "lock.front_door", wait=True)
        assert result["state"] == "locked" and result["payload"] == '{"state": "LOCK"}'
        assert (await services.call("open", "lock.front_door", wait=True))["state"] == "open"
        assert (await services.call("unlock", "lock.front_door", wait=True))["state"] == "unlocked"

        await publish_as(cfg, "zigbee2mqtt", pw["zigbee2mqtt"], [
            ("zigbee2mqtt/front_door", b'{"state": "JAMMED"}', False)])
        await wait_for(lambda: reg.get("lock.front_door").state == "jammed", 5)

        # optimistic: nothing confirms, so the call returns once published
        result = await services.call("lock", "lock.shed", wait=True)
        assert result["payload"] == "LOCK"
        with pytest.raises(ServiceError, match="payload_open"):
            await services.call("open", "lock.shed")
        await wait_for(lambda: rec.payloads("zigbee2mqtt/shed/set") == [b"LOCK"], 5)


# ---- code_format (HA: lock/__init__.py add_default_code, mqtt/lock.py) -------------------------
# A call's code ("" without one) must re.match the config's code_format (anchored at its start
# only, as HA), else nothing is published; the command template sees it as ``code`` (None
# without one). Run offline and through a real hub and Mosquitto.
LK = {"state_topic": "state", "command_topic": "set"}
TPL = {"command_template": '{"action": "{{ value }}", "code": "{{ code }}"}'}
FOUR = {**LK, **TPL, "code_format": r"^\d{4}$"}
CODE_STATES = [
    StateCase("code_format is an attribute", FOUR, [("state_topic", "LOCKED")], "locked",
              {"code_format": r"^\d{4}$"}),
    StateCase("no code_format, no attribute", LK, [("state_topic", "LOCKED")], "locked",
              {"code_format": ABSENT}),
    StateCase("json attributes cannot set code_format or changed_by",
              {**FOUR, "json_attributes_topic": "attrs"},
              [("json_attributes_topic",
                '{"code_format": ".*", "changed_by": "x", "battery": 80}')],
              None, {"code_format": r"^\d{4}$", "changed_by": ABSENT, "battery": 80}),
]
CODE_COMMANDS = [
    CommandCase("lock with a matching code", FOUR, "lock", {"code": "1234"},
                [("command_topic", '{"action": "LOCK", "code": "1234"}')]),
    CommandCase("unlock with a matching code", FOUR, "unlock", {"code": "0000"},
                [("command_topic", '{"action": "UNLOCK", "code": "0000"}')]),
    CommandCase("open with a matching code", {**FOUR, "payload_open": "UNLATCH"}, "open",
                {"code": "9876"}, [("command_topic", '{"action": "UNLATCH", "code": "9876"}')]),
    CommandCase("a number is a code", FOUR, "lock", {"code": 1234},
                [("command_topic", '{"action": "LOCK", "code": "1234"}')]),
    CommandCase("matched from the start only, as HA's re.match", {**FOUR, "code_format": r"\d{4}"},
                "lock", {"code": "12345"},
                [("command_topic", '{"action": "LOCK", "code": "12345"}')]),
    CommandCase("a pattern matching the empty code needs none",
                {**LK, "code_format": r"^\d*$",
                 "command_template": "{{ value }} {{ code is none }}"},
                "lock", {}, [("command_topic", "LOCK True")]),
    CommandCase("without code_format any code reaches the template", {**LK, **TPL}, "unlock",
                {"code": "abc"}, [("command_topic", '{"action": "UNLOCK", "code": "abc"}')]),
    CommandCase("without a template the payload is plain", {**LK, "code_format": r"^\d{4}$"},
                "lock", {"code": "1234"}, [("command_topic", "LOCK")]),
    CommandCase("optimistic lock with a code", {"command_topic": "set", **TPL,
                                                "code_format": r"^\d{4}$"},
                "lock", {"code": "1234"},
                [("command_topic", '{"action": "LOCK", "code": "1234"}')], state="locked"),
    CommandCase("a wrong code is refused", FOUR, "unlock", {"code": "12a4"},
                error="does not match"),
    CommandCase("a missing code is refused", FOUR, "lock", {}, error="needs a code"),
    CommandCase("an empty code is refused", FOUR, "lock", {"code": ""}, error="needs a code"),
    CommandCase("a code too long is refused", {**LK, "code_format": ".*"}, "lock",
                {"code": "1" * 65}, error="longer than 64"),
    CommandCase("a code that is not text is refused", FOUR, "lock", {"code": ["1234"]},
                error="text or a number"),
    CommandCase("a true code is refused", FOUR, "lock", {"code": True},
                error="text or a number"),
]


@pytest.mark.parametrize("case", CODE_STATES, ids=ids(CODE_STATES))
def test_code_format_state(case: StateCase):
    run_state_offline("lock", case)


@pytest.mark.parametrize("case", CODE_COMMANDS, ids=ids(CODE_COMMANDS))
async def test_code_format_command(case: CommandCase):
    await run_command_offline("lock", case)


async def test_code_format_cases_through_the_hub_and_mosquitto(broker):
    await run_through_hub(broker, "lock", CODE_STATES, CODE_COMMANDS)


@pytest.mark.parametrize(("code_format", "error"), [
    ("(", "not a valid regular expression"),
    ("(a+)+$", "repeat inside a repeat"),
    (r"(\d|\d\d)*$", "alternation inside a repeat"),
    (r"(\d)\1", "backreferences"),
    (r"\d*\d*\d*\d*x", "variable repeats"),
    ("((a{64}){64}){64}", "more than 4096"),
    ("1" * 101, "longer than 100"),
])
def test_a_hostile_code_format_is_refused_at_discovery(code_format: str, error: str):
    with pytest.raises(PayloadError, match=error):
        Offline().parse("lock", {"command_topic": "set", "code_format": code_format})


async def test_the_code_is_hidden_and_offered_to_the_agent():
    hub = Offline()
    record = hub.add("lock", 0, FOUR)
    result = await hub.services.call("lock", record.entity_id, {"code": "1234"})
    assert result["payload"] == HIDDEN
    assert LOCK.arguments(record, "lock") == {"code": {"type": "string", "maxLength": 64}}
    plain = hub.add("lock", 1, LK)
    assert LOCK.arguments(plain, "lock") == {}
    assert (await hub.services.call("lock", plain.entity_id))["payload"] == "LOCK"
    # a new config without code_format drops the attribute and the rule
    record = hub.add("lock", 0, LK)
    assert "code_format" not in record.attributes
    await hub.services.call("lock", record.entity_id)
    assert hub.sent[-1][1] == "LOCK"
