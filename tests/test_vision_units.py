"""Vision node building blocks without I/O: latest-frame slots, occupancy off-delay, zones, rate
meter, letterboxing, YOLO decoding, config rules, entity keys and the inference message."""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import orjson
import pytest
from helpers import wait_for
from pydantic import ValidationError

from spark.app.config.models import SparkConfig
from spark.core.errors import PayloadError
from spark.core.messages.detection import Detection
from spark.core.messages.records import InferenceRecord, record_from_payload
from spark.core.messages.vision import InferenceMessage
from spark.nodes.kinds import agent_class, node_config_model
from spark.nodes.vision.capture import CameraReader
from spark.nodes.vision.config import VisionNodeConfig, slug
from spark.nodes.vision.detectors.letterbox import Letterbox, letterbox
from spark.nodes.vision.detectors.yolo import decode_yolo
from spark.nodes.vision.entities import camera_entities, count_key, occupancy_key
from spark.nodes.vision.pipeline import (
    FrameSlots,
    OccupancyTracker,
    RateMeter,
    Zone,
    count_labels,
    point_in_polygon,
)
from spark.nodes.vision.sources import SAMPLES, FilesSourceConfig


# ---- frame slots ----------------------------------------------------------------------------
async def test_slots_keep_only_the_newest_frame_and_count_drops() -> None:
    slots: FrameSlots[int] = FrameSlots()
    for i in range(1000):  # a producer far faster than the consumer
        slots.put("a", i, float(i))
    slots.put("b", -1, 0.0)
    assert len(slots) == 2  # bounded by cameras, whatever the rate
    assert slots.dropped == {"a": 999} and slots.total_dropped == 999
    assert await slots.get() == ("a", 999, 999.0)  # the newest frame of a
    assert await slots.get() == ("b", -1, 0.0)
    waiter = asyncio.create_task(slots.get())
    await asyncio.sleep(0)  # let it block on the empty slots
    assert not waiter.done()
    slots.put("b", 7, 1.0)
    assert await asyncio.wait_for(waiter, 1) == ("b", 7, 1.0)


async def test_slots_round_robin_between_cameras() -> None:
    slots: FrameSlots[str] = FrameSlots()
    slots.put("a", "a1", 0)
    slots.put("b", "b1", 0)
    slots.put("a", "a2", 0)  # replaces a1 and goes behind b
    assert [(await slots.get())[1] for _ in range(2)] == ["b1", "a2"]


# ---- occupancy, zones, rate -----------------------------------------------------------------
def test_occupancy_off_delay() -> None:
    occ: OccupancyTracker[str] = OccupancyTracker(off_delay=5.0)
    assert occ.observe("k", False, 0.0) is None and occ.next_deadline() is None
    assert occ.observe("k", True, 1.0) is True
    assert occ.observe("k", True, 2.0) is None  # still on, last seen moves
    assert occ.next_deadline() == 7.0
    assert occ.observe("k", False, 6.9) is None and occ.is_on("k")
    assert occ.expire(6.99) == []
    assert occ.expire(7.0) == ["k"] and not occ.is_on("k")
    assert occ.observe("k", True, 8.0) is True
    assert occ.observe("k", False, 13.0) is False  # an inference past the delay turns it off
    zero: OccupancyTracker[str] = OccupancyTracker(off_delay=0.0)
    assert zero.observe("k", True, 1.0) is True and zero.observe("k", False, 1.0) is False


def test_zones_and_polygons() -> None:
    square = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]
    assert point_in_polygon(0.5, 0.75, square) and not point_in_polygon(0.5, 0.25, square)
    tri = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    assert point_in_polygon(0.2, 0.2, tri) and not point_in_polygon(0.8, 0.8, tri)
    porch = Zone("porch", tuple(square))
    standing = Detection("person", 0.9, (100, 50, 200, 400))  # feet at y=400 of 480
    assert porch.contains(*standing.anchor, 640, 480)
    assert not porch.contains(*Detection("person", 0.9, (0, 0, 10, 100)).anchor, 640, 480)
    assert count_labels(["person", "car"], [standing, standing]) == {"person": 2, "car": 0}


def test_rate_meter() -> None:
    meter = RateMeter(window=10.0)
    assert meter.rate(0.0) == 0.0
    for i in range(21):
        meter.tick(i * 0.5)  # 2 per second
    assert meter.rate(10.0) == pytest.approx(2.0)
    assert meter.rate(100.0) == 0.0  # everything left the window


# ---- letterbox and YOLO decoding ------------------------------------------------------------
def test_letterbox_round_trip() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:] = (10, 20, 30)
    image, lb = letterbox(frame, 640, 640)
    assert image.shape == (640, 640, 3) and (lb.scale, lb.pad_x, lb.pad_y) == (1.0, 0, 80)
    assert (image[0, 0] == 114).all() and (image[80, 0] == (10, 20, 30)).all()
    assert (image[639, 0] == 114).all() and (image[559, 0] == (10, 20, 30)).all()
    assert lb.to_source(160, 160, 320, 480) == (160, 80, 320, 400)
    assert lb.normalized_to_source(0.25, 0.25, 0.75, 0.5) == (160, 80, 320, 400)
    small = Letterbox.fit(1920, 1080, 640, 640)  # a 1080p camera into a 640 model
    assert small.scale == pytest.approx(1 / 3) and small.pad_y == 140
    assert small.to_source(0, 140, 640, 500) == (0, 0, 1919, 1079)  # clipped to the frame


def test_decode_yolo_output() -> None:
    labels = ["person", "car"]
    lb = Letterbox.fit(128, 96, 64, 64)  # scale 0.5, pad_y 8
    pred = np.array([[32, 33, 10], [32, 32, 10], [16, 16, 8], [32, 32, 8],
                     [0.9, 0.6, 0.05], [0.01, 0.02, 0.3]], np.float32)[None]
    found = decode_yolo(pred, labels, 0.5, lb)
    assert found == [Detection("person", pytest.approx(0.9), (48, 16, 80, 80))]  # NMS kept one
    assert [d.label for d in decode_yolo(pred, labels, 0.25, lb)] == ["person", "car"]
    assert decode_yolo(pred.transpose(0, 2, 1), labels, 0.5, lb) == found  # (1, N, 4+C) too
    assert decode_yolo(pred, labels, 0.95, lb) == []
    with pytest.raises(ValueError, match="expected 4 \\+ 3 classes"):
        decode_yolo(pred, [*labels, "dog"], 0.5, lb)


# ---- config, entities, messages -------------------------------------------------------------
def test_config_defaults_and_registration() -> None:
    assert agent_class("vision").__name__ == "VisionNode"
    assert node_config_model("vision") is VisionNodeConfig
    cfg = SparkConfig.model_validate({"nodes": [{"kind": "vision", "id": "vision"}]})
    node = cfg.node("vision")
    assert isinstance(node, VisionNodeConfig)
    assert node.detector.type == "cpu" and node.detector.model is None  # built-in, no download
    cam = node.cameras[0]
    assert isinstance(cam.source, FilesSourceConfig) and cam.source.path == SAMPLES
    assert sorted(p.name for p in SAMPLES.glob("*.jpg")) == [
        "01_astronaut.jpg", "02_coffee.jpg", "03_chelsea.jpg", "04_rocket.jpg"]
    assert all(p.stat().st_size < 64 * 1024 for p in SAMPLES.glob("*.jpg"))


@pytest.mark.parametrize(("patch", "error"), [
    ({"detector": {"type": "tpu"}}, "does not match any of the expected tags"),
    ({"cameras": [{"id": "a", "source": {"type": "files", "fps": 3}}]}, "Extra inputs"),
    ({"cameras": [{"id": "a"}, {"id": "a"}]}, "camera ids must be unique"),
    ({"cameras": [{"id": "a/b"}]}, "only letters"),
    ({"cameras": [{"id": "a", "zones": [{"id": "z", "polygon": [[0, 0], [2, 0], [0, 1]]}]}]},
     "fractions of the frame"),
    ({"cameras": [{"id": "a", "zones": [{"id": "z", "polygon": [[0, 0], [1, 0]]}]}]},
     "at least 3"),
    ({"labels": ["tv", "TV"]}, "collide"),
    ({"threshold": 1.5}, "less than or equal"),
])
def test_config_errors(patch: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        VisionNodeConfig.model_validate({"id": "v", **patch})


def test_entities_per_camera_and_zone() -> None:
    cfg = VisionNodeConfig.model_validate({"id": "v", "labels": ["person", "traffic light"],
                                           "cameras": [{"id": "door", "zones": [
                                               {"id": "porch", "polygon": [[0, 0], [1, 0],
                                                                           [1, 1]]}]}]})
    ents = {e.key: e for e in camera_entities(cfg.cameras[0], cfg)}
    assert slug("traffic light") == "traffic_light"
    assert count_key("door", "traffic light", "porch") == "door_porch_traffic_light_count"
    assert ents[occupancy_key("door", "person")].device_class == "occupancy"
    assert ents["door_porch_person_count"].platform == "sensor"
    assert ents["door_detection"].event_types == ["person", "traffic light"]
    assert ents["door_snapshot"].platform == "image"
    assert ents["door_take_snapshot"].platform == "button"
    assert len(ents) == 2 * 2 * 2 + 4


def test_inference_message_wire_form_and_record() -> None:
    msg = InferenceMessage(id="vision-1-7", time=InferenceMessage.from_epoch(1.7e9),
                           camera="door", model_name="yolov8s_h8", latency_ms=7.2,
                           counts={"person": 1},
                           detections=[{"label": "person", "score": 0.9, "box": [1, 2, 3, 4],
                                        "zones": []}])
    body = orjson.loads(msg.to_payload())
    assert body["model"] == body["model_name"] == "yolov8s_h8"  # bridges/ingest/mapper reads model
    assert InferenceMessage.from_payload(msg.to_payload()) == msg
    legacy = {k: v for k, v in body.items() if k != "model_name"}  # only "model"
    assert InferenceMessage.from_payload(orjson.dumps(legacy)).model_name == "yolov8s_h8"
    record = msg.to_record("vision")
    assert isinstance(record, InferenceRecord) and record.key == "inference:vision:vision-1-7"
    assert record_from_payload(record.to_payload()) == record
    with pytest.raises(PayloadError):
        InferenceMessage.from_payload(b'{"id": "x"}')


async def test_a_frame_read_while_detection_stops_is_not_queued() -> None:
    """Detection switched off while a read is in the worker thread: the frame it returns is
    dropped, so nothing waits in the slot (found under CPU load in a suite run)."""
    cam = SparkConfig.model_validate({"nodes": [{"kind": "vision", "id": "vision"}]}).node(
        "vision").cameras[0]
    slots: FrameSlots[object] = FrameSlots()
    running = asyncio.Event()
    running.set()
    reading, release = asyncio.Event(), asyncio.Event()

    async def blocking(call: object, *args: object) -> object:
        if getattr(call, "__name__", "") != "read":
            return None  # open / close
        reading.set()
        await release.wait()
        return np.zeros((4, 4, 3), np.uint8)

    reader = CameraReader(cam, slots, running, blocking, lambda *_: None)
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.wait_for(reading.wait(), 5)
        running.clear()  # what VisionNode._set_detect(False) does, with slots.clear()
        slots.clear()
        release.set()
        await wait_for(lambda: reader.reads == 1, 5)
        assert len(slots) == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
