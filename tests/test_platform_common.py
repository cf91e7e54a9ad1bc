"""Home Assistant's cross-platform MQTT cases as data, for every platform.

After HA's ``tests/components/mqtt/test_common.py`` helpers, which each platform's test module
calls (``help_test_default_availability_payload``, ``..._list_payload_all`` / ``_any``,
``help_test_custom_availability_payload``, ``help_test_setting_attribute_via_mqtt_json_message``,
``help_test_setting_attribute_with_template``, ``help_test_update_with_json_attrs_not_dict`` /
``_bad_json``, ``help_test_entity_category``, ``help_test_unique_id``,
``help_test_discovery_removal`` / ``_update`` / ``_update_unchanged`` / ``_broken``,
``help_test_discovery_update_attr`` / ``_availability``) and the sensor / binary_sensor cases of
``expire_after``, ``force_update`` and ``off_delay``: :data:`COMMON` runs on every platform's
minimal config (:data:`BASES`), :data:`SCENARIOS` are step sequences (discovery updates and
removals, the clock) run on the platforms they concern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from ha_cases import ABSENT, Case, Offline, discovery, ids, prefix, run_offline, run_through_hub
from helpers import wait_for

from spark.core.events import AvailabilityChanged, EntityUpdated, StateChanged

# Each platform's smallest config, and a payload its state topic takes (None: no state topic).
BASES: dict[str, tuple[dict[str, Any], tuple[str, str] | None]] = {
    "sensor": ({"state_topic": "state"}, ("state_topic", "21.5")),
    "binary_sensor": ({"state_topic": "state"}, ("state_topic", "ON")),
    "switch": ({"state_topic": "state", "command_topic": "set"}, ("state_topic", "ON")),
    "button": ({"command_topic": "set"}, None),
    "number": ({"state_topic": "state", "command_topic": "set"}, ("state_topic", "7")),
    "select": ({"state_topic": "state", "command_topic": "set", "options": ["a", "b"]},
               ("state_topic", "b")),
    "text": ({"state_topic": "state", "command_topic": "set"}, ("state_topic", "hi")),
    "lock": ({"state_topic": "state", "command_topic": "set"}, ("state_topic", "LOCKED")),
    "alarm_control_panel": ({"state_topic": "state", "command_topic": "set"},
                            ("state_topic", "disarmed")),
    "siren": ({"state_topic": "state", "command_topic": "set"}, ("state_topic", "ON")),
    "update": ({"state_topic": "state"}, ("state_topic", "1.0")),
    "vacuum": ({"state_topic": "state", "command_topic": "set"},
               ("state_topic", '{"state": "docked"}')),
    "lawn_mower": ({"activity_state_topic": "activity", "dock_command_topic": "dock"},
                   ("activity_state_topic", "docked")),
    "scene": ({"command_topic": "set"}, None),
    "notify": ({"command_topic": "set"}, None),
    "camera": ({"topic": "snap"}, ("topic", "\x89PNG")),
    "image": ({"image_topic": "img"}, None),
    "event": ({"state_topic": "state", "event_types": ["press"]}, None),
}

A = {"availability_topic": "avail"}
LIST = [{"topic": "avail1"}, {"topic": "avail2"}]
ATTR = {"json_attributes_topic": "attrs"}

COMMON = [
    Case("no availability: available", {}, available=True),
    Case("availability: unavailable before any message", A, available=False),
    Case("availability online", A, [("availability_topic", "online")], available=True),
    Case("availability offline", A, [("availability_topic", "online"),
                                     ("availability_topic", "offline")], available=False),
    Case("availability unknown payload ignored", A, [("availability_topic", "online"),
                                                     ("availability_topic", "maybe")],
         available=True),
    Case("custom availability payloads", {**A, "payload_available": "good",
                                          "payload_not_available": "nogood"},
         [("availability_topic", "good")], available=True),
    Case("custom payloads: online is not one", {**A, "payload_available": "good",
                                                "payload_not_available": "nogood"},
         [("availability_topic", "online")], available=False),
    Case("availability template", {**A, "availability_template": "{{ value_json.state }}"},
         [("availability_topic", '{"state": "online"}')], available=True),
    Case("list, latest: the last message counts", {"availability": LIST},
         [("availability.0", "online"), ("availability.1", "offline")], available=False),
    Case("list, latest: back online", {"availability": LIST},
         [("availability.1", "offline"), ("availability.0", "online")], available=True),
    Case("list, all: one online is not enough", {"availability": LIST,
                                                 "availability_mode": "all"},
         [("availability.0", "online")], available=False),
    Case("list, all: both online", {"availability": LIST, "availability_mode": "all"},
         [("availability.0", "online"), ("availability.1", "online")], available=True),
    Case("list, any: one online is enough", {"availability": LIST, "availability_mode": "any"},
         [("availability.0", "offline"), ("availability.1", "online")], available=True),
    Case("list, any: all offline", {"availability": LIST, "availability_mode": "any"},
         [("availability.0", "offline"), ("availability.1", "offline")], available=False),
    Case("list entry with its own payloads and template",
         {"availability": [{"topic": "avail1", "payload_available": "up",
                            "value_template": "{{ value_json.s }}"}]},
         [("availability.0", '{"s": "up"}')], available=True),
    Case("json attributes", ATTR, [("json_attributes_topic", '{ "val": "100" }')],
         attrs={"val": "100"}),
    Case("json attributes template",
         {**ATTR, "json_attributes_template": "{{ value_json['Timer1'] | tojson }}"},
         [("json_attributes_topic", '{"Timer1": {"Arm": 0, "Time": "22:18"}}')],
         attrs={"Arm": 0, "Time": "22:18"}),
    Case("json attributes not a dict ignored", ATTR,
         [("json_attributes_topic", '[ "list", "of", "things"]')], attrs={"val": ABSENT}),
    Case("json attributes bad JSON ignored", ATTR,
         [("json_attributes_topic", '{"val": "1"}'), ("json_attributes_topic",
                                                     "This is not JSON")],
         attrs={"val": "1"}),
    Case("availability and availability_topic together refused",
         {**A, "availability": LIST}, refused=True),
    Case("entity_category diagnostic", {"entity_category": "diagnostic"}, available=True),
    Case("entity_category unknown refused", {"entity_category": "cellar"}, refused=True),
]


def on_platform(platform: str, case: Case) -> Case:
    base, _ = BASES[platform]
    return Case(case.name, {**base, **case.config}, case.messages, state=case.state,
                attrs=case.attrs, available=case.available, refused=case.refused)


def category_case(platform: str) -> Case:
    """HA: ``entity_category: config`` is refused for sensors only."""
    return Case("entity_category config", {**BASES[platform][0], "entity_category": "config"},
                available=True, refused=platform == "sensor")


PER_PLATFORM = [(p, on_platform(p, c)) for p in BASES for c in COMMON] + [
    (p, category_case(p)) for p in BASES]


@pytest.mark.parametrize(("platform", "case"), PER_PLATFORM,
                         ids=[f"{p}-{c.name}" for p, c in PER_PLATFORM])
async def test_common_case(platform: str, case: Case):
    await run_offline(platform, case)


@pytest.mark.parametrize("platform", ["sensor", "switch", "alarm_control_panel",
                                      "lawn_mower", "camera"])
async def test_common_cases_through_hub_and_mosquitto(broker, platform: str):
    await run_through_hub(broker, platform,
                          [on_platform(platform, c) for c in COMMON] + [category_case(platform)])


# ---- scenarios: discovery updates and removals, the clock ------------------------------------
Step = tuple[Any, ...]  # ("announce", config | None) / ("send", key, payload) / ("clock", s)


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: list[Step]
    exists: bool = True
    state: Any = ...
    available: bool | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    name_is: str | None = None
    events: dict[str, int] = field(default_factory=dict)  # event kind -> how many


def _scenarios(platform: str) -> list[Scenario]:
    base, value = BASES[platform]
    assert value is not None
    key, payload = value
    out = [
        Scenario("removal", [("announce", base), ("announce", None)], exists=False),
        Scenario("removal then re-discovery", [("announce", base), ("announce", None),
                                               ("announce", base)], available=True),
        Scenario("update changes the name", [("announce", base),
                                             ("announce", {**base, "name": "Beer"})],
                 name_is="Beer"),
        Scenario("unchanged update is no update",
                 [("announce", base), ("announce", base)], events={"updated": 0}),
        Scenario("broken config ignored, fixed one taken",
                 [("announce", {**base, "availability_topic": "avail", "availability": LIST}),
                  ("announce", base)], available=True),
        Scenario("update moves the state topic",
                 [("announce", base), ("announce", {**base, key: "moved"}),
                  ("send", key, payload), ("send_to", key, "moved", payload)],
                 events={"changed": 1}),
        Scenario("update moves the attributes topic",
                 [("announce", {**base, **ATTR}),
                  ("announce", {**base, "json_attributes_topic": "attrs2"}),
                  ("send_to", "json_attributes_topic", "attrs", '{"val": "old"}'),
                  ("send_to", "json_attributes_topic", "attrs2", '{"val": "new"}')],
                 attrs={"val": "new"}),
        Scenario("update moves the availability topic",
                 [("announce", {**base, **A}),
                  ("announce", {**base, "availability_topic": "avail2"}),
                  ("send_to", "availability_topic", "avail", "online")], available=False),
    ]
    if platform in ("sensor", "binary_sensor"):
        exp = {**base, "expire_after": 4}
        out += [
            Scenario("expire_after: unavailable until a first value", [("announce", exp)],
                     available=False),
            Scenario("expire_after: a value makes it available", [("announce", exp),
                                                                  ("send", key, payload)],
                     available=True, state=...),
            Scenario("expire_after: expired after the time",
                     [("announce", exp), ("send", key, payload), ("clock", 5)],
                     available=False),
            Scenario("expire_after: not before the time",
                     [("announce", exp), ("send", key, payload), ("clock", 3)],
                     available=True),
            Scenario("expire_after: a new value revives it",
                     [("announce", exp), ("send", key, payload), ("clock", 5),
                      ("send", key, payload)], available=True),
            Scenario("expire_after: expired while offline stays expired when back online",
                     [("announce", {**exp, **A}), ("send_to", "availability_topic", "avail",
                                                  "online"),
                      ("send", key, payload), ("send_to", "availability_topic", "avail",
                                               "offline"),
                      ("clock", 5), ("send_to", "availability_topic", "avail", "online")],
                     available=False),
            Scenario("force_update: the same value is a change",
                     [("announce", {**base, "force_update": True}), ("send", key, payload),
                      ("send", key, payload)], events={"changed": 2}),
            Scenario("without force_update the same value is not",
                     [("announce", base), ("send", key, payload), ("send", key, payload)],
                     events={"changed": 1}),
        ]
    if platform == "binary_sensor":
        out += [
            Scenario("off_delay: on right after the message",
                     [("announce", {**base, "off_delay": 30}), ("send", key, "ON")],
                     state="on"),
            Scenario("off_delay: off after the delay",
                     [("announce", {**base, "off_delay": 0.05}), ("send", key, "ON"),
                      ("until_state", "off")], state="off", events={"changed": 2}),
        ]
    return out


SCENARIO_PLATFORMS = ("sensor", "binary_sensor", "switch", "number", "select", "text", "lock",
                      "alarm_control_panel", "siren", "update", "vacuum", "lawn_mower")
ALL_SCENARIOS = [(p, s) for p in SCENARIO_PLATFORMS for s in _scenarios(p)]


@pytest.mark.parametrize(("platform", "scenario"), ALL_SCENARIOS,
                         ids=[f"{p}-{s.name}" for p, s in ALL_SCENARIOS])
async def test_scenario(platform: str, scenario: Scenario):
    hub = Offline()
    counts = {"changed": 0, "updated": 0, "availability": 0}
    kinds: dict[type, str] = {StateChanged: "changed", EntityUpdated: "updated",
                              AvailabilityChanged: "availability"}
    listener: Callable[[Any], None] = lambda e: counts.__setitem__(  # noqa: E731
        kinds[type(e)], counts[kinds[type(e)]] + 1)
    hub.bus.listen(listener, tuple(kinds))
    config: dict[str, Any] = {}
    clock = 0.0
    for step in scenario.steps:
        if step[0] == "announce":
            config = step[1] if step[1] is not None else config
            await hub.announce(platform, 0, step[1])
        elif step[0] == "send":
            hub.feed(platform, 0, config, [(step[1], step[2])])
        elif step[0] == "send_to":
            hub.registry.on_message(_msg(prefix(0) + step[2], step[3]))
        elif step[0] == "until_state":
            await wait_for(lambda want=step[1]: getattr(hub.get(platform), "state", None) == want,
                           10, what=f"{scenario.name}: state {step[1]}")
        elif step[0] == "clock":
            record = hub.get(platform)
            assert record is not None
            clock = record.last_updated + step[1]
            hub.registry.expire(now=clock)
    record = hub.get(platform)
    if not scenario.exists:
        assert record is None, f"{scenario.name}: still there"
        return
    assert record is not None, f"{scenario.name}: {hub.registry.stats.last_error}"
    if scenario.available is not None:
        assert record.available == scenario.available, scenario.name
    if scenario.state is not ...:
        assert record.state == scenario.state, scenario.name
    if scenario.name_is is not None:
        assert record.name == scenario.name_is
    for key, want in scenario.attrs.items():
        assert record.attributes.get(key) == want, (scenario.name, key)
    for kind, want in scenario.events.items():
        assert counts[kind] == want, f"{scenario.name}: {counts}"


def _msg(topic: str, payload: str) -> Any:
    import paho.mqtt.client as paho
    msg = paho.MQTTMessage(topic=topic.encode())
    msg.payload = payload.encode()
    return msg


async def test_unique_id_collision_keeps_the_first_config():
    """HA's help_test_unique_id: two configs with one unique_id make one entity, the first."""
    hub = Offline()
    first = {"unique_id": "TOTALLY_UNIQUE", "object_id": "first", "state_topic": "a/state"}
    second = {"unique_id": "TOTALLY_UNIQUE", "object_id": "second", "state_topic": "b/state"}
    await hub.discover("homeassistant/sensor/one/x/config", orjson.dumps(first))
    await hub.discover("homeassistant/sensor/two/x/config", orjson.dumps(second))
    assert len(hub.registry.entities) == 1
    (record,) = hub.registry.entities.values()
    assert record.spec.state_topic == "a/state"


def test_every_platform_has_common_cases():
    counts = {p: sum(1 for q, _ in PER_PLATFORM if q == p) for p in BASES}
    assert all(n == len(COMMON) + 1 for n in counts.values())
    assert ids(COMMON) and discovery("sensor", 0)
