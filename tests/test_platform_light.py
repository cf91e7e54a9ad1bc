"""The ``light`` platform (core/platforms/light.py) against Home Assistant's cases
(tests/light_cases/: basic, json and template schemas).

Every case runs twice: in-process through the hub's own registry and services (fed with
messages built here: exact message lists, quick failures), and all cases at once through a
running hub and the session's Mosquitto, a device client publishing the states and a recorder
seeing the commands the hub publishes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from helpers import wait_for
from lab import recorder, running_hub
from light_cases import CASES
from light_cases.schema_basic import BASIC
from light_cases.schema_json import JSON
from light_cases.schema_template import TEMPLATE
from light_cases.steps import ANY, Case

from spark.core.errors import PayloadError, ServiceError
from spark.core.events import EventBus
from spark.core.mqtt import MqttClient
from spark.core.platforms import platform_for
from spark.core.topics import TopicLayout
from spark.hub.entity import EntityRecord
from spark.hub.registry import Registry
from spark.hub.services import Services
from spark.hub.templates import TemplateBusyError, TemplateEngine

LIGHT = platform_for("light")
ROOT = "zigbee2mqtt/light_cases"


def base(case: Case) -> str:
    return f"{ROOT}/{case.id}"


def discovery(case: Case) -> tuple[str, bytes]:
    config = {"~": base(case), "name": case.id, "unique_id": f"light_case_{case.id}",
              "object_id": case.id, "json_attributes_topic": "~/seq", **case.config}
    return f"homeassistant/light/cases/{case.id}/config", orjson.dumps(config)


def topic(case: Case, sub: str) -> str:
    return f"{base(case)}/{sub}" if sub else base(case)


def _norm(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_norm(v) for v in value]
    return value


def mismatches(record: EntityRecord, state: Any, attrs: dict[str, Any]) -> list[str]:
    """What differs from the expectation (HA's ``attributes.get`` semantics)."""
    bad = []
    if state is not ANY and record.state != state:
        bad.append(f"state {record.state!r} != {state!r}")
    for key, want in attrs.items():
        got = record.attributes.get(key)
        if _norm(got) != _norm(want):
            bad.append(f"{key} {got!r} != {want!r}")
    return bad


def same_payload(got: str | bytes, want: Any) -> bool:
    if isinstance(want, dict):
        try:
            return bool(orjson.loads(got) == want)
        except orjson.JSONDecodeError:
            return False
    return (got.decode() if isinstance(got, bytes) else got) == want


def sent_matches(case: Case, got: list[tuple[str, str | bytes]],
                 want: tuple[tuple[str, Any], ...]) -> bool:
    return len(got) == len(want) and all(
        t == topic(case, sub) and same_payload(p, w) for (t, p), (sub, w) in zip(
            got, want, strict=True))


def message(topic_: str, payload: bytes) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(topic=topic_.encode())
    msg.payload = payload
    return msg


async def call(services: Services, service: str, entity_id: str, data: dict[str, Any]
               ) -> dict[str, Any]:
    """``services.call``, again while a command template's render is preempted (the hub's
    template time share is used up by load; nothing was published: not the light's fault)."""
    result: dict[str, Any] = {}

    async def attempt() -> bool:
        try:
            result.update(await services.call(service, entity_id, dict(data)))
        except ServiceError as exc:
            if isinstance(exc.__cause__, TemplateBusyError):
                return False
            raise
        return True

    await wait_for(attempt, 30, what=f"{service} on {entity_id} rendered its templates")
    return result


# ---- in-process: the hub's registry and services, no broker ----------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_case_in_process(case: Case) -> None:
    bus = EventBus()
    # (a render budget of a second: a preempted render on a loaded machine is not the case's)
    registry = Registry(TopicLayout(), bus, lambda topics: None, lambda topics: None,
                        TemplateEngine(render_seconds=1.0))
    published: list[tuple[str, str]] = []
    services = Services(registry, bus, lambda t, p, q, r: published.append((t, p)),
                        TopicLayout())
    disc_topic, payload = discovery(case)
    registry.on_discovery(message(disc_topic, payload))
    entity_id = f"light.{case.id}"
    record = registry.get(entity_id)
    assert record is not None, registry.stats.last_error
    for n, step in enumerate(case.steps):
        if step[0] == "msg":
            registry.on_message(message(topic(case, step[1]), step[2]))
        elif step[0] == "call":
            published.clear()
            await call(services, step[1], entity_id, step[2])
            assert sent_matches(case, published, step[3]), (
                f"step {n} {step[1]} {step[2]}: sent {published}, want {step[3]}")
        else:
            bad = mismatches(record, step[1], step[2])
            assert not bad, f"step {n}: {bad} (attributes {record.attributes})"


def test_the_case_tables_cover_all_three_schemas() -> None:
    assert (len(BASIC), len(JSON), len(TEMPLATE)) >= (25, 9, 3)
    steps = sum(len(c.steps) for c in CASES)
    assert steps > 300, steps


# ---- through a running hub and Mosquitto ------------------------------------------------------
async def _run_on_hub(case: Case, hub: Any, device: MqttClient, seen: dict[str, list[Any]]
                      ) -> list[str]:
    """One case's steps against the hub; returns what went wrong."""
    entity_id = f"light.{case.id}"
    record = hub.registry.get(entity_id)
    seq = 0
    problems: list[str] = []

    async def barrier() -> None:  # every earlier message of this case has been handled
        nonlocal seq
        seq += 1
        await device.publish_confirmed(topic(case, "seq"), orjson.dumps({"_seq": seq}), 1)
        # (a state whose render was skipped for the time share, on a loaded machine, is
        # applied again shortly: the registry holds it as pending until then)
        await wait_for(lambda: record.attributes.get("_seq") == seq
                       and not hub.registry.pending(record), 20,
                       what=f"{case.id} handled message {seq}")

    def preempted() -> bool:  # a state render of this case was cut short by the machine's load
        return "preempted" in hub.registry.stats.errors_by_entity.get(entity_id, "")

    for n, step in enumerate(case.steps):
        if step[0] == "msg":
            await device.publish_confirmed(topic(case, step[1]), step[2], 1)
        elif step[0] == "call":
            await barrier()
            result = await call(hub.services, step[1], entity_id, step[2])
            messages = result.get("messages") or [
                {"topic": result["topic"], "payload": result["payload"]}]
            got = [(m["topic"], m["payload"]) for m in messages]
            if not sent_matches(case, got, step[3]):
                problems.append(f"{case.id} step {n}: hub sent {got}, want {step[3]}")
            want_seen = len(seen[case.id]) + len(step[3])
            seen.setdefault(f"{case.id}:want", []).extend(step[3])
            await wait_for(lambda count=want_seen: len(seen[case.id]) >= count, 20,
                           what=f"{case.id}: the broker delivered step {n}'s commands")
        else:
            await barrier()
            bad = mismatches(record, step[1], step[2])
            if bad and preempted():
                return [f"LOAD {case.id}: a state render was preempted (step {n})"]
            if bad:
                problems.append(f"{case.id} step {n}: {bad}")
    got_all = seen[case.id]
    if not sent_matches(case, got_all, tuple(seen.get(f"{case.id}:want", ()))):
        problems.append(f"{case.id}: the broker saw {got_all}")
    return problems


async def test_every_case_through_the_hub_and_mosquitto(broker) -> None:
    cfg = broker.spark_config(nodes=[])
    pw = broker.passwords
    commands = {c.id: {topic(c, v.removeprefix("~/")) if v != "~" else base(c)
                       for k, v in c.config.items() if "command_topic" in k}
                for c in CASES}
    seen: dict[str, list[Any]] = {c.id: [] for c in CASES}
    async with running_hub(cfg, pw["hub"]) as hub, \
            recorder(cfg, "admin", pw["admin"], f"{ROOT}/#") as rec, \
            MqttClient(cfg.mqtt, "light-devices", username="zigbee2mqtt",
                       password=pw["zigbee2mqtt"]) as device:
        await device.wait_connected(10)

        def on_command(msg: Any) -> None:
            case_id = msg.topic[len(ROOT) + 1:].split("/", 1)[0]
            if msg.topic in commands.get(case_id, ()):
                seen[case_id].append((msg.topic, bytes(msg.payload)))

        rec.client.subscribe(f"{ROOT}/#", on_command, 1)
        for case in CASES:
            await device.publish_confirmed(*discovery(case), 1, False)
        await wait_for(lambda: all(hub.registry.get(f"light.{c.id}") for c in CASES), 20,
                       what="every light case registered")
        try:
            results = await asyncio.gather(*(_run_on_hub(c, hub, device, seen) for c in CASES))
        finally:
            for case in CASES:  # leave nothing behind for other tests' hubs
                await device.publish_confirmed(discovery(case)[0], b"", 1, True)
    problems = [p for r in results for p in r if not p.startswith("LOAD ")]
    load = [p for r in results for p in r if p.startswith("LOAD ")]
    assert not problems, "\n".join(problems)
    assert len(load) <= len(CASES) // 4, load  # most cases ran whole even under load


# ---- what the table does not show -------------------------------------------------------------
def _record(config: dict[str, Any]) -> EntityRecord:
    bus = EventBus()
    registry = Registry(TopicLayout(), bus, lambda t: None, lambda t: None)
    registry.on_discovery(message("homeassistant/light/x/y/config", orjson.dumps(
        {"unique_id": "u1", "object_id": "y", **config})))
    record = registry.get("light.y")
    assert record is not None, registry.stats.last_error
    return record


@pytest.mark.parametrize(("data", "why"), [
    ({"brightness": "lots"}, "must be a number"),
    ({"brightness": True}, "must be a number"),
    ({"brightness": float("nan")}, "must be finite"),
    ({"hs_color": [400, 10]}, "within"),
    ({"rgb_color": [1, 2]}, "list of 3"),
    ({"rgb_color": "red"}, "list of 3"),
    ({"xy_color": [0.2, 1.5]}, "within"),
    ({"flash": "forever"}, "'short' or 'long'"),
    ({"brightness": 5, "brightness_pct": 5}, "exclude each other"),
    ({"rgb_color": [1, 2, 3], "hs_color": [1, 2]}, "exclude each other"),
    ({"colour": [1, 2, 3]}, "unknown light data"),
    ({"color_name": ["red"]}, "must be a colour name"),
    ({"color_name": "red", "rgb_color": [1, 2, 3]}, "exclude each other"),
])
def test_service_data_is_checked(data: dict[str, Any], why: str) -> None:
    record = _record({"schema": "json", "command_topic": "l/set",
                      "supported_color_modes": ["hs", "rgb", "xy"]})
    with pytest.raises(ServiceError, match=why):
        LIGHT.command(record, "turn_on", data)


def test_hostile_state_payloads_are_refused_not_crashing() -> None:
    record = _record({"command_topic": "l/set", "state_topic": "l/s",
                      "brightness_state_topic": "l/b", "rgb_state_topic": "l/rgb",
                      "color_temp_state_topic": "l/ct", "xy_state_topic": "l/xy"})
    for key, payload in (("brightness_state_topic", b"inf"), ("brightness_state_topic", b"-4"),
                         ("brightness_state_topic", b"x"), ("rgb_state_topic", b"1,2"),
                         ("rgb_state_topic", b"999,0,0"), ("color_temp_state_topic", b"0"),
                         ("color_temp_state_topic", b"1e9999"), ("xy_state_topic", b"nan,1"),
                         ("xy_state_topic", b"0.1,0.2,0.3")):
        with pytest.raises(PayloadError):
            LIGHT.topic_state(record, key, payload)
    json_light = _record({"schema": "json", "command_topic": "l/set", "state_topic": "l/s",
                          "brightness": True})
    for payload in (b"[1]", b'"ON"', b"\xff", b'{"state": "ON", "brightness": "9"}',
                    b'{"state": "ON", "brightness": 1e999}'):
        try:
            LIGHT.state(json_light, payload)
        except PayloadError:
            pass


def test_config_rules_name_the_key() -> None:
    for config, why in (({"command_topic": "l/set", "on_command_type": "middle"},
                         "on_command_type"),
                        ({"schema": "json", "command_topic": "l/set",
                          "supported_color_modes": ["onoff", "rgb"]}, "alone"),
                        ({"schema": "json", "command_topic": "l/set",
                          "supported_color_modes": ["purple"]}, "invalid"),
                        ({"schema": "template", "command_topic": "l/set"},
                         "command_on_template")):
        bus = EventBus()
        registry = Registry(TopicLayout(), bus, lambda t: None, lambda t: None)
        registry.on_discovery(message("homeassistant/light/x/y/config",
                                      orjson.dumps({"unique_id": "u", **config})))
        assert registry.get("light.u") is None and why in (registry.stats.last_error or ""), (
            registry.stats.last_error)


def test_a_real_zigbee2mqtt_bulb_config() -> None:
    """tests/fixtures/discovery/z2m_light.json: an IKEA white-spectrum bulb as Z2M announces it."""
    from pathlib import Path

    config = orjson.loads((Path(__file__).parent / "fixtures/discovery/z2m_light.json")
                          .read_bytes())
    record = _record({**config, "unique_id": "u1", "object_id": "y"})
    assert record.attributes["supported_color_modes"] == ("color_temp",)
    assert (record.attributes["min_color_temp_kelvin"], record.attributes["max_color_temp_kelvin"],
            record.attributes["min_mireds"], record.attributes["max_mireds"]) == (2202, 4000, 250,
                                                                                 454)
    assert LIGHT.state(record, b'{"state":"ON","brightness":254,"color_mode":"color_temp",'
                               b'"color_temp":370,"linkquality":87}') == "on"
    record.state = "on"
    assert LIGHT.state(record, b'{"state":"ON","brightness":254,"color_mode":"color_temp",'
                               b'"color_temp":370}') == "on"
    attrs = record.attributes
    assert (attrs["brightness"], attrs["color_mode"], attrs["color_temp_kelvin"],
            attrs["color_temp"], attrs["effect"]) == (255, "color_temp", 2702, 370, None)
    assert attrs["effect_list"][:2] == ("blink", "breathe") and attrs["supported_features"] == 44
    order = LIGHT.command(record, "turn_on", {"brightness": 128, "color_temp_kelvin": 2700,
                                              "transition": 2})
    assert orjson.loads(order.payload) == {"state": "ON", "brightness": 127, "color_temp": 370,
                                           "transition": 2}
    assert orjson.loads(LIGHT.command(record, "turn_on", {"hs_color": [30, 50]}).payload) == {
        "state": "ON", "color_temp": 418}  # no colour mode: hs -> xy -> 2389 K (McCamy) -> mireds
