"""Discovery payloads that are wrong, huge or random: a PayloadError naming the topic, never
another exception, and the good parts of a device payload kept."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from discovery_samples import payload_of, topic

from spark.core.discovery import PLATFORMS, parse_discovery
from spark.core.errors import PayloadError

BAD: list[tuple[str, bytes | str, str]] = [
    ("homeassistant/sensor/n/t/config", b"{not json", "not valid JSON"),
    ("homeassistant/sensor/n/t/config", b"[1, 2]", "must be a JSON object, got list"),
    ("homeassistant/sensor/n/t/config", b'"text"', "must be a JSON object, got str"),
    ("homeassistant/sensor/n/t/config", b"\xff\xfe", "not valid JSON"),
    ("homeassistant/sensor/n/t/config", b'{"a":' * 2000, "not valid JSON"),
    ("homeassistant/frobnicator/n/t/config", b'{"stat_t":"x"}', "unknown platform 'frobnicator'"),
    ("homeassistant/frobnicator/n/t/config", b"", "unknown platform"),
    (
        "homeassistant/sensor/n/t/config",
        b'{"stat_t":"s","avty_t":"a","avty":[{"t":"b"}]}',
        "mutually exclusive",
    ),
    ("homeassistant/sensor/n/t/config", b'{"stat_t":"s","qos":"high"}', "qos"),
    ("homeassistant/sensor/n/t/config", b'{"stat_t":"s","qos":3}', "qos"),
    ("homeassistant/sensor/n/t/config", b'{"stat_t":["s"]}', "state_topic"),
    ("homeassistant/sensor/n/t/config", b'{"stat_t":"a/#/b"}', "'#' must be a whole last"),
    ("homeassistant/switch/n/t/config", b'{"cmd_t":"a/+/set"}', "wildcard"),
    ("homeassistant/switch/n/t/config", b'{"stat_t":"a"}', "switch needs 'command_topic'"),
    ("homeassistant/sensor/n/t/config", b'{"dev":{"name":"x"}}', "identifiers"),
    ("homeassistant/sensor/n/t/config", b'{"dev":{"ids":{"a":1}}}', "identifiers"),
    ("homeassistant/sensor/n/t/config", b'{"dev":{"cns":[["mac"]]}}', "connections"),
    ("homeassistant/sensor/n/t/config", b'{"o":{"sw":"1"}}', "origin.name"),
    ("homeassistant/sensor/n/t/config", b'{"~":5,"stat_t":"~/x"}', "'~' (topic base)"),
    ("homeassistant/sensor/n/t/config", b'{"avty":[{"pl_avail":"up"}]}', "availability.0.topic"),
    ("homeassistant/sensor/n/t/config", b'{"avty_mode":"some"}', "availability_mode"),
    ("homeassistant/sensor/n/t/config", b'{"ent_cat":"config"}', "only be 'diagnostic'"),
    ("homeassistant/sensor/n/t/config", b'{"exp_aft":-5}', "expire_after"),
    ("homeassistant/event/n/t/config", b'{"stat_t":"e","evt_typ":[]}', "event_types"),
    ("homeassistant/event/n/t/config", b'{"stat_t":"e","evt_typ":"press"}', "event_types"),
    ("homeassistant/image/n/t/config", b'{"img_t":"a","url_t":"b"}', "exactly one"),
    ("homeassistant/light/n/t/config", b'{"cmd_t":"a","schema":"fancy"}', "schema"),
    ("homeassistant/sensor/n/t/config", "x" * 300_000, "more than the 262144 allowed"),
    ("homeassistant/device/d1/config", b'{"o":{"name":"x"},"cmps":{}}', "'device' ('dev')"),
    ("homeassistant/device/d1/config", b'{"dev":{"ids":"d1"},"cmps":{}}', "'origin' ('o')"),
    ("homeassistant/device/d1/config", b'{"dev":{"ids":"d1"},"o":{"name":"x"}}', "'components'"),
    (
        "homeassistant/device/d1/config",
        b'{"dev":{"ids":"d1"},"o":{"name":"x"},"cmps":{"a":{"p":"teapot"}}}',
        "component 'a' on homeassistant/device/d1/config: unknown or missing platform",
    ),
    (
        "homeassistant/device/d1/config",
        b'{"dev":{"ids":"d1"},"o":{"name":"x"},"cmps":{"a":{"stat_t":"x"}}}',
        "missing platform",
    ),
    (
        "homeassistant/device/d1/config",
        b'{"dev":{"ids":"d1"},"o":{"name":"x"},"cmps":{"a":{"p":"sensor","stat_t":"x"}}}',
        "'unique_id' is required",
    ),
    (
        "homeassistant/device/d1/config",
        b'{"dev":{"ids":"d1"},"o":{"name":"x"},"cmps":{"a":[1]}}',
        "component 'a' on homeassistant/device/d1/config must be a JSON object",
    ),
]


@pytest.mark.parametrize(("topic_text", "payload", "message"), BAD)
def test_bad_payloads_raise_payload_error_naming_the_topic(
    topic_text: str, payload: bytes | str, message: str
) -> None:
    with pytest.raises(PayloadError) as info:
        parse_discovery(topic(topic_text), payload, raw_topic=topic_text)
    assert topic_text in str(info.value)
    assert message in str(info.value)


def test_one_megabyte_payload_is_refused_before_parsing() -> None:
    big = b'{"stat_t":"s","pad":"' + b"x" * (1024 * 1024) + b'"}'
    with pytest.raises(PayloadError, match="1048599 bytes"):
        parse_discovery(topic("homeassistant/sensor/n/t/config"), big)
    # ... unless the caller raises the limit
    result = parse_discovery(topic("homeassistant/sensor/n/t/config"), big, max_bytes=2 << 20)
    assert isinstance(result, list)


def test_bad_component_can_be_reported_without_dropping_the_good_ones() -> None:
    payload = payload_of(
        {
            "dev": {"ids": "d1"},
            "o": {"name": "x"},
            "cmps": {
                "good": {"p": "sensor", "stat_t": "s", "uniq_id": "g"},
                "bad": {"p": "sensor", "stat_t": "s", "uniq_id": "b", "qos": 9},
            },
        }
    )
    errors: list[PayloadError] = []
    items = parse_discovery(topic("homeassistant/device/d1/config"), payload, errors=errors)
    assert isinstance(items, list) and [i.object_id for i in items] == ["good"]
    assert len(errors) == 1 and "component 'bad'" in str(errors[0]) and "qos" in str(errors[0])
    with pytest.raises(PayloadError, match="component 'bad'"):
        parse_discovery(topic("homeassistant/device/d1/config"), payload)


def test_platform_set_is_the_documented_one() -> None:
    assert {"sensor", "binary_sensor", "light", "device_automation", "tag", "notify"} <= PLATFORMS
    assert "device" not in PLATFORMS


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    keys = ["stat_t", "cmd_t", "avty", "avty_t", "t", "dev", "ids", "cns", "o", "cmps", "p", "~"]
    keys += ["qos", "uniq_id", "name", "val_tpl", "ops", "evt_typ", "min", "schema", "img_t"]
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return rng.choice([None, True, False])
    if choice == 1:
        return rng.choice([0, 1, -1, 2.5, 10**30])
    if choice == 2:
        return rng.choice(["", "~", "a/b", "+", "#", "sensor", "x" * 50, "~/s", "\0"])
    if choice == 3:
        return rng.choice(list(PLATFORMS))
    if choice == 4:
        return []
    if choice == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


@pytest.mark.parametrize("component", ["sensor", "switch", "light", "device", "event"])
def test_never_raises_anything_but_payload_error(component: str) -> None:
    rng = random.Random(f"discovery-{component}")
    path = f"homeassistant/{component}/node/obj/config"
    if component == "device":
        path = "homeassistant/device/obj/config"
    parsed_topic = topic(path)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(600):
        doc = _random_json(rng)
        payload = (
            json.dumps(doc).encode()
            if rng.random() < 0.9
            else (bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
        )
        try:
            parse_discovery(parsed_topic, payload)
            outcomes["ok"] += 1
        except PayloadError as exc:
            assert "could not be parsed" not in str(exc)  # the catch-all means a parser bug
            outcomes["error"] += 1
    assert outcomes["error"] > 0
