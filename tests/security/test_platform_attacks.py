"""Attacks on the HA platform code (issue 17) through a real ``spark hub`` process on the test
Mosquitto: a third-party publisher (the ``zigbee2mqtt`` account of the example config) with
hostile discovery configs and state payloads, and an operator's REST calls with hostile
service data. Each attack succeeded before its fix (the finding is in each test's docstring).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from broker_fixture import free_port
from e2e.harness import ADMIN_PASSWORD, Lab, running_lab, wait_until
from helpers import Recorder

Z2M = "zigbee2mqtt"  # may write zigbee2mqtt/# and homeassistant/+/+/+/config


@pytest.fixture(scope="module")
def lab(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("platform-attacks")
    ui = {"rate_limit": {"requests": 100_000, "window": 60}}
    with running_lab(root, broker, free_port(), [], ui=ui) as running:
        yield running


@pytest.fixture
def z2m(broker: Any) -> Iterator[Recorder]:
    """The attacker: publishes as the zigbee2mqtt account and records what the hub sends to
    its devices; its retained configs are cleared afterwards."""
    with Recorder(broker.host, broker.port, Z2M, broker.passwords[Z2M]) as client:
        client.connect()
        client.subscribe("zigbee2mqtt/+/set", "zigbee2mqtt/+/+/set")
        configs: list[str] = []
        client.configs = configs  # type: ignore[attr-defined]
        yield client
        for topic in configs:
            client.publish(topic, b"", retain=True)


@pytest.fixture
def api(lab: Lab) -> Iterator[Any]:
    with lab.api() as api:
        api.login("admin", ADMIN_PASSWORD)
        yield api


def announce(z2m: Recorder, component: str, device: str, object_id: str,
             config: dict[str, Any]) -> str:
    """A retained discovery config; the entity id it gets (``object_id`` names it)."""
    topic = f"homeassistant/{component}/{device}/{object_id}/config"
    z2m.publish(topic, json.dumps({"object_id": object_id, "unique_id": f"{device}_{object_id}",
                                   **config}), retain=True)
    z2m.configs.append(topic)  # type: ignore[attr-defined]
    return f"{component}.{object_id}"


def entity(api: Any, entity_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = api.entity(entity_id)
    return found


def call(api: Any, service: str, entity_id: str, data: dict[str, Any]) -> httpx.Response:
    r: httpx.Response = api.post(f"/api/services/{service}", json={
        "entity_id": entity_id, "data": data, "wait": False})
    return r


def commands(z2m: Recorder, topic: str) -> list[bytes]:
    return [bytes(m.payload) for m in z2m.received(topic)]


def bulb(z2m: Recorder, api: Any, tag: str) -> tuple[str, str, str]:
    """A Zigbee2MQTT-style JSON light and its link-quality sensor on the same state topic
    (the light announced first, so it comes first on the topic's routes)."""
    state = f"zigbee2mqtt/bulb{tag}"
    dev = {"identifiers": [f"zigbee2mqtt_bulb{tag}"], "name": f"Bulb {tag}"}
    light = announce(z2m, "light", f"bulb{tag}", f"attack_bulb_{tag}", {
        "name": None, "schema": "json", "command_topic": f"{state}/set", "state_topic": state,
        "brightness": True, "brightness_scale": 254, "effect": True, "effect_list": ["blink"],
        "supported_color_modes": ["xy", "color_temp"], "device": dev})
    wait_until(lambda: entity(api, light), 15, "the bulb in the registry")
    lqi = announce(z2m, "sensor", f"bulb{tag}", f"attack_lqi_{tag}", {
        "name": "Link quality", "state_topic": state, "device": dev,
        "value_template": "{{ value_json.linkquality }}"})
    wait_until(lambda: entity(api, lqi), 15, "the link-quality sensor in the registry")
    return state, light, lqi


HOSTILE_STATES = [
    {"brightness": 1e308},
    {"brightness": -1e308},
    {"color_mode": "xy", "color": {"x": 1e308, "y": -1e308}},
    {"color_mode": "color_temp", "color_temp": -1},
    {"color_mode": "color_temp", "color_temp": 0},
    {"color_mode": "color_temp", "color_temp": 1e308},
    {"color_mode": "xy", "color": {"x": "NaN", "y": 0.3}},
    {"color_mode": "xy", "color": {"x": 0.3}},
    {"brightness": 100},  # an honest one after the rest: the light still works
]


def test_hostile_json_light_states_lose_no_data_and_poison_nothing(
        z2m: Recorder, api: Any) -> None:
    """Finding: a JSON light took ``x: 1e308`` / ``color_temp: -1`` as its colour and every
    later state and command then raised OverflowError: the light's state froze, the sensor
    sharing its state topic lost each message the light raised on (the routing loop ended),
    and ``turn_on`` answered 500. Now out-of-range colours are ignored (as HA ignores a bad
    colour), the brightness is clamped, and a platform error drops only its entity's message."""
    tag = uuid.uuid4().hex[:6]
    state, light, lqi = bulb(z2m, api, tag)
    for i, hostile in enumerate(HOSTILE_STATES):
        z2m.publish(state, json.dumps({"state": "ON" if i % 2 else "OFF", "linkquality": i,
                                       **hostile}))
        wait_until(lambda i=i: (entity(api, lqi) or {}).get("state") == str(i), 10,  # type: ignore[misc]
                   f"the sensor sharing the topic got message {i} ({hostile})")
        wait_until(lambda i=i: (entity(api, light) or {}).get("state")  # type: ignore[misc]
                   == ("on" if i % 2 else "off"), 10, f"the light took message {i}")
    seen = entity(api, light) or {}
    attrs = seen["attributes"]
    assert attrs.get("brightness") in (None, 255, 100)
    assert attrs.get("xy_color") is None and attrs.get("color_temp_kelvin") is None, attrs
    r = call(api, "turn_on", light, {"xy_color": [0.3, 0.3], "brightness": 128})
    assert r.status_code == 200, r.text
    z2m.wait(lambda: bool(commands(z2m, f"{state}/set")), 10, "the bulb's command")
    sent = json.loads(commands(z2m, f"{state}/set")[-1])
    assert sent == {"state": "ON", "brightness": 127, "color": {"x": 0.3, "y": 0.3}}, sent


def test_hostile_service_data_is_a_400_and_publishes_nothing(z2m: Recorder, api: Any) -> None:
    """Finding: service data that Python's JSON parser hands the API as a 400-digit integer
    (brightness, a cover's position, a number's value, a fan's percentage) and a light's
    ``color_temp_kelvin: 0`` raised OverflowError / ZeroDivisionError out of the platform
    (500 Internal Server Error, a traceback per request; for the agent, a dead tool loop),
    and a 100,000-character effect was published to the device. Each is now a 400 naming
    the field, and nothing reaches the device."""
    tag = uuid.uuid4().hex[:6]
    state, light, _ = bulb(z2m, api, tag)
    dev = {"identifiers": [f"zigbee2mqtt_misc{tag}"], "name": f"Misc {tag}"}
    base = f"zigbee2mqtt/misc{tag}"
    cover = announce(z2m, "cover", f"misc{tag}", f"attack_cover_{tag}", {
        "name": None, "command_topic": f"{base}/cover/set", "set_position_topic":
        f"{base}/cover/set", "position_topic": f"{base}/cover", "device": dev})
    number = announce(z2m, "number", f"misc{tag}", f"attack_number_{tag}", {
        "name": None, "command_topic": f"{base}/number/set", "device": dev})
    fan = announce(z2m, "fan", f"misc{tag}", f"attack_fan_{tag}", {
        "name": None, "command_topic": f"{base}/fan/set", "percentage_command_topic":
        f"{base}/fan/set", "device": dev})
    siren = announce(z2m, "siren", f"misc{tag}", f"attack_siren_{tag}", {
        "name": None, "command_topic": f"{base}/siren/set", "device": dev})
    huge = 10 ** 400
    attacks = [
        ("turn_on", light, {"brightness": huge}),
        ("turn_on", light, {"brightness_pct": -huge}),
        ("turn_on", light, {"transition": huge}),
        ("turn_on", light, {"color_temp_kelvin": huge}),
        ("turn_on", light, {"color_temp_kelvin": 0}),
        ("turn_on", light, {"effect": "x" * 100_000}),
        ("set_cover_position", cover, {"position": huge}),
        ("set_value", number, {"value": -huge}),
        ("set_percentage", fan, {"percentage": huge}),
        ("turn_on", siren, {"volume_level": huge}),
    ]
    for target in (cover, number, fan, siren):
        wait_until(lambda t=target: entity(api, t), 15, f"{target} in the registry")  # type: ignore[misc]
    for service, entity_id, data in attacks:
        r = call(api, service, entity_id, data)
        assert r.status_code == 400, (service, entity_id, str(data)[:60], r.status_code,
                                      r.text[:300])
        assert len(r.text) < 2000
    assert not z2m.received(f"{base}/+/set") and not commands(z2m, f"{state}/set")
    r = call(api, "turn_on", light, {"effect": "blink"})  # the same light still works
    assert r.status_code == 200, r.text
    z2m.wait(lambda: bool(commands(z2m, f"{state}/set")), 10, "the bulb's command")


BAD_FILTERS = {
    "everything": "#",
    "everything2": "+/+/#",
    "sys": "$SYS/#",
    "shared": "$share/spark/#",
    "requests": "spark/+/request/+/+",
    "answers": "spark/hub/response/#",
    "configs": "homeassistant/+/+/+/config",
    "commands": "spark/+/+/set",
    "exact_request": "spark/hub/request/voice/ask",
    "exact_command": "spark/power/power_mode/set",
}


def test_discovery_cannot_subscribe_the_hub_to_everything(z2m: Recorder, api: Any,
                                                          broker: Any) -> None:
    """Finding: a publisher's ``state_topic: "#"`` (or ``$share/...``, or the hub's RPC
    request topics) made the hub subscribe to it with its read-everything account: every
    message on the broker (camera frames, other accounts' RPC questions, the discovery of
    every device) went through the hub's registry and the last one became that entity's
    state, shown to every viewer and recorded; ``$share/spark/#`` even took messages away
    from other members of that group. Such configs are now refused (one log line each);
    OpenMQTTGateway's ``+/+/BTtoMQTT/<mac>`` still works."""
    tag = uuid.uuid4().hex[:6]
    dev = {"identifiers": [f"zigbee2mqtt_wild{tag}"], "name": f"Wild {tag}"}
    refused = {key: announce(z2m, "sensor", f"wild{tag}", f"attack_{key}_{tag}", {
        "name": key, "state_topic": topic, "device": dev})
        for key, topic in BAD_FILTERS.items()}
    ble = announce(z2m, "sensor", f"wild{tag}", f"attack_ble_{tag}", {
        "name": "BLE", "state_topic": f"+/+/BTtoMQTT/{tag}", "device": dev,
        "value_template": "{{ value_json.tempc }}"})
    wait_until(lambda: entity(api, ble), 15, "the wildcard BLE sensor")  # configs in order
    z2m.publish(f"zigbee2mqtt/gw/BTtoMQTT/{tag}", json.dumps({"tempc": 21.5}))
    wait_until(lambda: (entity(api, ble) or {}).get("state") == "21.5", 10, "the BLE value")
    secret = f"secret-{tag}"
    with Recorder(broker.host, broker.port, "admin", broker.passwords["admin"]) as admin:
        admin.connect()
        admin.publish("spark/hub/request/voice/ask", secret)
        admin.publish(f"zigbee2mqtt/private{tag}", secret)
    z2m.publish(f"zigbee2mqtt/gw/BTtoMQTT/{tag}", json.dumps({"tempc": 22}))
    wait_until(lambda: (entity(api, ble) or {}).get("state") == "22", 10, "the next BLE value")
    for key, entity_id in refused.items():
        assert entity(api, entity_id) is None, (key, entity(api, entity_id))
    everything = api.get("/api/entities").json()
    assert not [e["entity_id"] for e in everything if e["state"] == secret]


def test_oversized_states_and_attributes_are_refused(z2m: Recorder, api: Any) -> None:
    """Finding: a state of up to ``mqtt.max_payload`` (256 KiB) characters became the
    entity's state: in every StateChanged event, each recorder row, each panel viewer's page
    (HA refuses states over 255 characters). Now such a state is refused (one log line per
    entity) and the entity keeps its state; 5 MB payloads are dropped by the MQTT client."""
    tag = uuid.uuid4().hex[:6]
    base = f"zigbee2mqtt/big{tag}"
    sensor = announce(z2m, "sensor", f"big{tag}", f"attack_big_{tag}", {
        "name": None, "state_topic": base, "json_attributes_topic": f"{base}/attrs",
        "device": {"identifiers": [f"zigbee2mqtt_big{tag}"], "name": f"Big {tag}"}})
    wait_until(lambda: entity(api, sensor), 15, "the sensor in the registry")
    z2m.publish(base, b"20.5")
    wait_until(lambda: (entity(api, sensor) or {}).get("state") == "20.5", 10, "first value")
    z2m.publish(base, b"9" * 5_000_000, timeout=30)
    z2m.publish(f"{base}/attrs", json.dumps({"huge": "y" * 5_000_000}), timeout=30)
    z2m.publish(f"{base}/attrs", json.dumps({"battery": 97}))
    wait_until(lambda: (entity(api, sensor) or {}).get("attributes", {}).get("battery") == 97,
               15, "the honest attributes after the huge ones")
    for size in (256, 200_000):
        z2m.publish(base, b"x" * size)
        z2m.publish(f"{base}/attrs", json.dumps({"battery": size}))  # then: it was handled
        wait_until(lambda s=size: (entity(api, sensor) or {})  # type: ignore[misc]
                   .get("attributes", {}).get("battery") == s, 15, f"a state of {size}")
        assert (entity(api, sensor) or {}).get("state") == "20.5"
    z2m.publish(base, b"y" * 255)  # HA's limit itself is a state
    wait_until(lambda: (entity(api, sensor) or {}).get("state") == "y" * 255, 10, "255 chars")
    seen = entity(api, sensor) or {}
    assert "huge" not in seen["attributes"], sorted(seen["attributes"])


def test_nan_and_infinite_bounds_in_a_config_are_refused(z2m: Recorder, api: Any) -> None:
    """Finding: a climate announced with ``min_temp: "nan"`` and ``max_temp: "inf"`` was
    registered, and since every comparison with NaN is false its range check let any target
    through: ``set_temperature`` with 1e300 was published to the device. Non-finite numbers in
    a discovery config are now a config error (the entity is not registered)."""
    tag = uuid.uuid4().hex[:6]
    dev = {"identifiers": [f"zigbee2mqtt_nan{tag}"], "name": f"NaN {tag}"}
    base = f"zigbee2mqtt/nan{tag}"
    bad = announce(z2m, "climate", f"nan{tag}", f"attack_nan_{tag}", {
        "name": None, "temperature_command_topic": f"{base}/set", "min_temp": "nan",
        "max_temp": "inf", "device": dev})
    step = announce(z2m, "number", f"nan{tag}", f"attack_step_{tag}", {
        "name": None, "command_topic": f"{base}/n/set", "step": "-inf", "device": dev})
    good = announce(z2m, "climate", f"nan{tag}", f"attack_fine_{tag}", {
        "name": None, "temperature_command_topic": f"{base}/fine/set", "min_temp": 7,
        "max_temp": 35, "device": dev})
    wait_until(lambda: entity(api, good), 15, "the honest climate (announced last)")
    assert entity(api, bad) is None and entity(api, step) is None
    r = call(api, "set_temperature", good, {"temperature": 1e300})
    assert r.status_code == 400, r.text
    assert not z2m.received(f"{base}/#")


@pytest.mark.parametrize(("topic_filter", "ok"), [
    ("+/+/BTtoMQTT/AABBCC", True), ("home/+/temperature", True), ("zigbee2mqtt/+", True),
    ("spark/sim1/lamp/state", True), ("homeassistant/status", True),
    ("#", False), ("+/#", False), ("+/+/+/#", False), ("$SYS/broker/uptime", False),
    ("$share/g/zigbee2mqtt/#", False), ("homeassistant/#", False),
    ("homeassistant/sensor/x/y/config", False), ("+/+/+/config", False),
    ("spark/hub/request/voice/ask", False), ("spark/+/response/#", False),
    ("spark/power/power_mode/set", False), ("+/+/+/set", False),
    ("/".join(["+"] * 33), False), ("/".join(["+"] * 32), True), ("/".join(["a"] * 40), True),
])
def test_which_topics_a_config_may_make_the_hub_follow(topic_filter: str, ok: bool) -> None:
    from spark.core.topics import TopicLayout
    from spark.hub.routes import refused
    assert (refused(TopicLayout(), topic_filter) is None) is ok, refused(TopicLayout(),
                                                                          topic_filter)
