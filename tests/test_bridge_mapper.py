"""Topic -> record mapping: the telemetry fast path agrees with ``TelemetryMessage`` on every
payload it accepts, and odd payloads go to (and fail in) the message's own parser."""

from __future__ import annotations

import orjson
import pytest

from spark.bridges.ingest.mapper import Mapper, fast_telemetry
from spark.bridges.outbox.store import Outbox
from spark.core.agent.discovery import DeviceInfo, DiscoveryContext, device_config, entity_config
from spark.core.agent.entities import Image
from spark.core.errors import PayloadError
from spark.core.messages.records import record_from_payload
from spark.core.messages.telemetry import TelemetryMessage
from spark.core.topics import TopicLayout

GOOD = {"v": 1, "node": "pi5", "time": "2025-06-01T12:00:00.123456+02:00",
        "metrics": {"pi5": {"cpu": 3.5, "load": 1}, "pi5_sda": {"temp": 34.0}}}
ODD: list[object] = [
    {**GOOD, "v": 2}, {**GOOD, "time": "2025-06-01T12:00:00"}, {**GOOD, "time": 17},
    {**GOOD, "node": "a/b"}, {**GOOD, "node": "x" * 129}, {**GOOD, "metrics": []},
    {**GOOD, "metrics": {"pi5": {"cpu": True}}}, {**GOOD, "metrics": {"pi5": {"cpu": "1"}}},
    {**GOOD, "metrics": {"p i": {"cpu": 1}}}, {**GOOD, "metrics": {"pi5": {"c+": 1}}},
    {**GOOD, "metrics": {"pi5": 5}}, {**GOOD, "metrics": {"pi5": {"cpu": 1e999}}},
    {**GOOD, "extra": "ignored"}, {**GOOD, "metrics": {}}, [GOOD], "nope",
]


def owner(payload: bytes) -> tuple[object, list[tuple[str, str, float]]] | None:
    try:
        msg = TelemetryMessage.from_payload(payload)
    except PayloadError:
        return None
    return msg.time, [(r.device_id, r.metric_name, r.value) for r in msg.device_metrics]


@pytest.mark.parametrize("body", [GOOD, *ODD])
def test_fast_path_accepts_only_what_the_message_accepts(body: object) -> None:
    payload = orjson.dumps(body)
    fast = fast_telemetry(payload)
    if fast is not None:
        assert fast == owner(payload)


def test_fast_path_takes_the_common_case() -> None:
    assert fast_telemetry(orjson.dumps(GOOD)) == owner(orjson.dumps(GOOD))


def test_records_and_keys() -> None:
    mapper = Mapper(TopicLayout())
    recs = mapper.records("spark/pi5/telemetry", orjson.dumps(GOOD))
    assert [r.key for r in recs] == [f"metric:{d}:{m}:1748772000123456" for d, m in
                                     (("pi5", "cpu"), ("pi5", "load"), ("pi5_sda", "temp"))]
    with pytest.raises(PayloadError):
        mapper.records("spark/pi5/telemetry", b'{"v": 1, "node": "pi5", "metrics": 3}')
    a, b = (mapper.records("spark/pi5/temp/state", b"21.5")[0] for _ in range(2))
    assert a.key != b.key and a.time < b.time  # arrival stamps never repeat
    assert mapper.records("spark/pi5/request/ping", b"{}") == []
    assert mapper.records("elsewhere/pi5/telemetry", b"{}") == []


@pytest.mark.parametrize("topic", ["spark/zz\u200b/availability", 'spark/n1"x/temp/state',
                                   "spark/n 1/inference", "spark/pi5/te\nmp/state"])
def test_ids_outside_the_topic_grammar_never_become_records(topic: str) -> None:
    with pytest.raises(PayloadError, match="topic grammar"):
        Mapper(TopicLayout()).records(topic, b"online")


def test_discovery_gives_entity_unit_and_platform() -> None:
    mapper = Mapper(TopicLayout())
    config = {"name": "T", "state_topic": "spark/n/t/state", "unit_of_measurement": "W",
              "unique_id": "n_t", "default_entity_id": "sensor.n_power"}
    mapper.discovery("homeassistant/sensor/n/t/config", orjson.dumps(config))
    rec = mapper.records("spark/n/t/state", b"12")[0]
    assert (rec.sensor_id, rec.unit, rec.value) == ("sensor.n_power", "W", 12.0)  # type: ignore[union-attr]
    mapper.discovery("homeassistant/image/n/cam/config", orjson.dumps(
        {"image_topic": "spark/n/cam/state", "state_topic": "spark/n/cam/state",
         "unique_id": "n_cam"}))
    assert mapper.records("spark/n/cam/state", b"\x89PNG") == []
    mapper.discovery("homeassistant/sensor/n/t/config", b"")  # removed
    assert mapper.records("spark/n/t/state", b"12")[0].sensor_id == "sensor.n_t"  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [
    GOOD, {**GOOD, "time": "2025-06-01T12:00:00Z"},
    {**GOOD, "metrics": {"pi5": {"tiny": 1e-7, "huge": 1.5e300, "neg": -0.0, "int": 7}}},
    *ODD])
def test_rows_are_the_records_serialised(body: object) -> None:
    """The telemetry fast path writes outbox rows without models: they must decode to the very
    records (and keys, kinds, priorities, hours) the model path stores."""
    payload = orjson.dumps(body)
    mapper = Mapper(TopicLayout())
    try:
        recs = mapper.records("spark/pi5/telemetry", payload)
    except PayloadError:
        with pytest.raises(PayloadError):
            mapper.rows("spark/pi5/telemetry", payload, 1.0)
        return
    rows = mapper.rows("spark/pi5/telemetry", payload, 1.0)
    model_rows = Outbox.rows(recs, 1.0)
    assert [r[:5] for r in rows] == [r[:5] for r in model_rows]
    assert [record_from_payload(r[5]) for r in rows] == recs


# ---- image and camera entities: no records, and no "malformed" either -------------------------
LAYOUT = TopicLayout()
VISION = DiscoveryContext(layout=LAYOUT, node_id="vision", hub_id="hub",
                          unique_prefix="spark_test_vision",
                          device=DeviceInfo(identifier="spark_test_vision", name="Vision",
                                            model="test"))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256))  # not UTF-8


def test_our_image_entity_on_its_image_topic_is_no_record_and_no_error() -> None:
    snapshot = Image(key="demo_snapshot")
    topic = LAYOUT.state("vision", "demo_snapshot")
    per_entity = Mapper(LAYOUT)
    with pytest.raises(PayloadError, match="not UTF-8"):  # unknown yet: taken for a sensor
        per_entity.records(topic, JPEG)
    per_entity.discovery(LAYOUT.discovery("image", "vision", "demo_snapshot"),
                         orjson.dumps(entity_config(snapshot, VISION)))
    assert per_entity.records(topic, JPEG) == []
    per_device = Mapper(LAYOUT)
    per_device.discovery(LAYOUT.device_discovery("vision"),
                         orjson.dumps(device_config([snapshot], VISION)))
    assert per_device.records(topic, JPEG) == []
    per_entity.discovery(LAYOUT.discovery("image", "vision", "demo_snapshot"), b"")  # removed
    with pytest.raises(PayloadError, match="not UTF-8"):
        per_entity.records(topic, JPEG)


def test_a_camera_on_its_topic_and_an_image_on_its_url_topic_are_no_records() -> None:
    mapper = Mapper(LAYOUT)
    mapper.discovery("homeassistant/camera/door/cam/config", orjson.dumps(
        {"name": "Door", "unique_id": "door_cam", "topic": "spark/door/cam/state"}))
    mapper.discovery("homeassistant/image/door/last/config", orjson.dumps(
        {"name": "Last", "unique_id": "door_last", "url_topic": "spark/door/last/state"}))
    assert mapper.records("spark/door/cam/state", JPEG) == []
    assert mapper.records("spark/door/last/state", b"http://cam/last.jpg") == []
