"""Issue 15, finding 1, the rules behind tests/security/test_deputy.py without a broker: which
command topics the hub refuses to publish to for anybody, and what ``hub.policy`` grants."""

from __future__ import annotations

import pytest

from spark.core.topics import TopicLayout
from spark.hub.policy import Caller, Policy, PolicyConfig, PolicyError, Target, command_target

LAYOUT = TopicLayout()


@pytest.mark.parametrize(("topic", "node", "why"), [
    ("homeassistant/select/power/power_mode/config", "sim1", "discovery prefix"),
    ("homeassistant", "sim1", "discovery prefix"),
    ("spark/power/availability", "power", "not a command topic"),
    ("spark/power/power_mode/state", "power", "not a command topic"),
    ("spark/hub/request/voice/call_service", "hub", "not a command topic"),
    ("spark/sim1/response/command", "sim1", "not a command topic"),
    ("spark/power/power_mode/set", "sim1", "belongs to node 'power'"),
    ("spark/power/power_mode/set", None, "belongs to node 'power'"),
    ("$SYS/broker/x", "sim1", "broker topic"),
    ("zigbee2mqtt/+/set", "0xabc", "not a topic one may publish to"),
    ("zigbee2mqtt/lamp", "0xabc", "own state"),
])
def test_protected_command_topics_are_refused(topic: str, node: str | None, why: str) -> None:
    with pytest.raises(PolicyError, match=why):
        command_target(LAYOUT, "switch.x", topic, node, ("zigbee2mqtt/lamp",), True)


def test_command_topics_and_their_retain() -> None:
    ours = command_target(LAYOUT, "switch.x", "spark/sim1/lamp/set", "sim1", (), True)
    assert ours == Target("spark/sim1/lamp/set", False)  # ours: never retained
    z2m = command_target(LAYOUT, "light.x", "zigbee2mqtt/lamp/set", "0xabc", (), True)
    assert z2m == Target("zigbee2mqtt/lamp/set", True)  # as the config says (HA semantics)


def test_policy_grants() -> None:
    policy = Policy(PolicyConfig.model_validate(
        {"accounts": {"kiosk": {"services": ["toggle"], "entities": ["switch.sim1_*"]}}}), "hub")
    policy.check_call(Caller.account("kiosk"), "toggle", "switch.sim1_lamp")
    policy.check_call(Caller.account("hub"), "turn_on", "select.anything")
    policy.check_call(Caller.user("alice", "operator"), "turn_on", "switch.x")
    for caller, service, entity in [(Caller.account("kiosk"), "turn_on", "switch.sim1_lamp"),
                                    (Caller.account("kiosk"), "toggle", "switch.power_grid"),
                                    (Caller.account("voice"), "toggle", "switch.x"),  # replaced
                                    (Caller.account("sim1"), "toggle", "switch.x"),
                                    (Caller.user("bob", "viewer"), "toggle", "switch.x")]:
        with pytest.raises(PolicyError, match="may not"):
            policy.check_call(caller, service, entity)
    with pytest.raises(PolicyError, match="read: true"):
        policy.check_method(Caller.account("kiosk"), "list_entities")
    policy.check_method(Caller.account("kiosk"), "ping")
    with pytest.raises(ValueError, match="unknown service"):
        PolicyConfig.model_validate({"accounts": {"x": {"services": ["format_disk"]}}})
    with pytest.raises(ValueError, match="extra"):
        PolicyConfig.model_validate({"accounts": {"x": {"servces": ["toggle"]}}})


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("homeassistant/#", "homeassistant/+/power/#", True),
    ("homeassistant/+/+/+/config", "homeassistant/+/power/#", True),
    ("zigbee2mqtt/#", "homeassistant/+/power/#", False),
    ("homeassistant/status", "homeassistant/+/power/#", False),
    ("#", "homeassistant/+/power/#", True),
    ("homeassistant/+/+/config", "homeassistant/+/power/+/config", False),
])
def test_acl_overlap(a: str, b: str, expected: bool) -> None:
    from spark.hub.broker.acl import overlap

    assert overlap(a, b) is expected and overlap(b, a) is expected
