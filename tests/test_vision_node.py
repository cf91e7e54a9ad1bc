"""The vision node on a real Mosquitto with the hub: detections on real images become counts,
occupancy (with its off-delay), events, snapshots and inference messages that reach the broker and
the hub registry; commands (threshold, detect, snapshot); frame dropping under load; the detector
selection (Hailo via the HailoRT stand-in, or CPU with the reason) as health entities."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fixtures.vision.hailo_standin import Chip, standin
from helpers import Recorder, wait_for
from lab import publish_as, running_agent, running_hub

from spark.app.config.models import SparkConfig
from spark.core.agent.agent import NodeContext
from spark.core.messages.vision import InferenceMessage
from spark.nodes.vision.agent import VisionNode
from spark.nodes.vision.sources import SAMPLES

NODE = "vision"
BASE = f"spark/{NODE}"


def spark(broker: Any, **node: Any) -> SparkConfig:
    cfg: SparkConfig = broker.spark_config(nodes=[{"kind": "vision", "id": NODE,
                                                   "state_interval": 0.2, **node}])
    return cfg


def camera(path: Path, fps: float = 20, loop: bool = True, repeat: int = 1, **more: Any
           ) -> dict[str, Any]:
    return {"id": "demo", "fps": fps,
            "source": {"type": "files", "path": str(path), "loop": loop, "repeat": repeat},
            **more}


@pytest.fixture
def person(tmp_path: Path) -> Path:
    folder = tmp_path / "person"
    folder.mkdir()
    shutil.copy(SAMPLES / "01_astronaut.jpg", folder)
    return folder


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A person, then an empty room; played once."""
    folder = tmp_path / "scene"
    folder.mkdir()
    for name in ("01_astronaut.jpg", "02_coffee.jpg"):
        shutil.copy(SAMPLES / name, folder)
    return folder


@contextlib.asynccontextmanager
async def running(cfg: SparkConfig, broker: Any,
                  hailo_platform: Any = None) -> AsyncIterator[VisionNode]:
    agent = VisionNode(NodeContext(cfg.agent_settings(), cfg.node(NODE),
                                   password=broker.passwords[NODE], announce_delay=(0, 0.05)),
                       hailo_platform=hailo_platform)
    async with running_agent(agent, ready_within=15) as started:
        yield started


@pytest.fixture
def admin(broker: Any) -> Iterator[Recorder]:
    rec = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
    rec.connect()
    rec.subscribe(f"{BASE}/#")
    try:
        yield rec
    finally:
        rec.close()


def live(rec: Recorder, topic: str) -> list[bytes]:
    """Payloads published while we watched (not retained leftovers of earlier tests)."""
    return [bytes(m.payload) for m in rec.received(topic) if not m.retain]


def state(rec: Recorder, key: str) -> bytes | None:
    got = live(rec, f"{BASE}/{key}/state")
    return got[-1] if got else None


def models(rec: Recorder) -> set[str]:
    """Models named by the inference messages seen so far."""
    return {InferenceMessage.from_payload(p).model_name for p in live(rec, f"{BASE}/inference")}


def attributes(rec: Recorder, key: str) -> dict[str, Any]:
    got = live(rec, f"{BASE}/{key}/attributes")
    return orjson.loads(got[-1]) if got else {}


async def test_detections_reach_the_broker_and_the_hub(broker: Any, admin: Recorder,
                                                       scene: Path) -> None:
    # one frame each (a dropped frame would break a count of frames in a row): persistence is
    # test_a_short_lived_false_positive_never_counts's subject
    cfg = spark(broker, cameras=[camera(scene, loop=False)], off_delay=0.5, snapshot_interval=0,
                detect=False, confirm_frames=1)
    occupancy = f"{BASE}/demo_person_occupancy/state"
    async with running_hub(cfg, broker.passwords["hub"]) as hub, running(cfg, broker) as node:
        reg = hub.registry
        # events are not retained: let the hub learn the entities before anything happens
        await wait_for(lambda: reg.get("event.vision_demo_detection") is not None, 10)
        await publish_as(cfg, "homeassistant", broker.passwords["homeassistant"],
                         [(f"{BASE}/detect/set", b"ON", False)])
        await wait_for(lambda: live(admin, occupancy)[-2:] == [b"ON", b"OFF"], 15,
                       what="occupancy on, then off after the off-delay")
        on, off = [m for m in admin.received(occupancy) if not m.retain][-2:]
        assert off.timestamp - on.timestamp >= 0.45  # the 0.5 s off-delay (broker jitter aside)
        counts = live(admin, f"{BASE}/demo_person_count/state")
        assert b"1" in counts and counts[-1] == b"0"
        event = orjson.loads(live(admin, f"{BASE}/demo_detection/state")[0])
        assert event["event_type"] == "person" and event["camera"] == "demo"
        assert event["score"] >= 0.5 and len(event["box"]) == 4 and event["count"] == 1
        jpeg = live(admin, f"{BASE}/demo_snapshot/state")[0]
        assert jpeg[:2] == b"\xff\xd8"
        inferences = [InferenceMessage.from_payload(p) for p in live(admin, f"{BASE}/inference")]
        assert [m.counts for m in inferences] == [{"person": 1}, {}]  # detection, then the change
        first = inferences[0]
        assert first.model_name == "opencv-hog+frontalface_default" and first.camera == "demo"
        assert first.detections[0]["label"] == "person" and first.latency_ms > 0
        assert first.to_record(NODE).key == f"inference:{NODE}:{first.id}"
        assert node.inferences == 2

        def registered() -> bool:
            occ = reg.get("binary_sensor.vision_demo_person_occupancy")
            snap = reg.get("image.vision_demo_snapshot")
            return (occ is not None and occ.state == "off" and snap is not None
                    and snap.image is not None)

        await wait_for(registered, 10, what="occupancy and snapshot in the hub registry")
        assert reg.get("sensor.vision_demo_person_count").state == "0"
        assert reg.get("image.vision_demo_snapshot").image[:2] == b"\xff\xd8"
        assert reg.get("event.vision_demo_detection").attributes["event_type"] == "person"
        detector = reg.get("sensor.vision_detector")
        assert detector.state == "cpu" and detector.spec.device_class == "enum"
        assert reg.get("binary_sensor.vision_detector_problem").state == "off"
        assert reg.get("sensor.vision_inference_latency").spec.unit_of_measurement == "ms"


async def test_commands_threshold_detect_and_snapshot(broker: Any, admin: Recorder,
                                                      person: Path) -> None:
    cfg = spark(broker, cameras=[camera(person, fps=10)], snapshot_interval=3600)
    pw = broker.passwords
    snapshots = f"{BASE}/demo_snapshot/state"

    async def command(key: str, value: str) -> None:
        await publish_as(cfg, "homeassistant", pw["homeassistant"],
                         [(f"{BASE}/{key}/set", value.encode(), False)])

    async with running(cfg, broker) as node:
        await wait_for(lambda: state(admin, "demo_person_count") == b"1", 10)
        await wait_for(lambda: len(live(admin, snapshots)) == 1, 5)  # the automatic one
        await command("confidence_threshold", "0.95")  # the face scores about 0.9
        await wait_for(lambda: state(admin, "confidence_threshold") == b"0.95", 5)
        await wait_for(lambda: state(admin, "demo_person_count") == b"0", 5)
        await command("confidence_threshold", "0.5")
        await wait_for(lambda: state(admin, "demo_person_count") == b"1", 5)
        await command("demo_take_snapshot", "PRESS")
        await wait_for(lambda: len(live(admin, snapshots)) == 2, 5, what="requested snapshot")
        await command("confidence_threshold", "2")  # outside 0.05..0.95: rejected, said so
        await wait_for(lambda: any(b"outside" in p for p in
                                   live(admin, f"{BASE}/response/command")), 5)
        await command("detect", "OFF")
        await wait_for(lambda: state(admin, "detect") == b"OFF"
                       and state(admin, "demo_person_count") == b"None", 5)
        assert not node._detect_on.is_set() and len(node.slots) == 0
        await command("detect", "ON")
        await wait_for(lambda: state(admin, "demo_person_count") == b"1", 10)


async def test_slow_detector_drops_frames_instead_of_queueing(broker: Any, admin: Recorder,
                                                              person: Path) -> None:
    # 120 frames/s offered; the built-in detector manages a few dozen: the rest must drop
    cfg = spark(broker, cameras=[camera(person, fps=120)])
    async with running(cfg, broker) as node:
        peak = 0

        def dropping() -> bool:
            nonlocal peak
            peak = max(peak, len(node.slots))
            value = state(admin, "frames_dropped")
            return value is not None and int(value) > 20

        await wait_for(dropping, 15, what="dropped frames counted")
        assert peak <= 1  # one camera: never more than one frame waiting
        assert node.slots.offered > node.inferences
        assert attributes(admin, "frames_dropped")["demo"] > 0
        await wait_for(lambda: state(admin, "inference_fps") not in (None, b"0.0"), 5)
        assert float(state(admin, "inference_latency") or 0) > 0


def hailo_detector(tmp_path: Path, driver: str) -> dict[str, Any]:
    hef = tmp_path / "yolov8s_h8.hef"
    hef.write_bytes(b"HEF stand-in")
    version = tmp_path / "hailo_pci_version"
    version.write_text(driver)
    return {"type": "hailo", "hef": str(hef), "labels": ["person"],
            "driver_version_file": str(version)}


async def test_hailo_present_runs_on_the_chip(broker: Any, admin: Recorder, person: Path,
                                              tmp_path: Path) -> None:
    chip = Chip(num_classes=1, max_bboxes=10, boxes=[(0, 0.25, 0.25, 0.75, 0.5, 0.8)])
    cfg = spark(broker, cameras=[camera(person)], detector=hailo_detector(tmp_path, "4.18.0"))
    async with running(cfg, broker, hailo_platform=standin(chip)):
        await wait_for(lambda: state(admin, "demo_person_count") == b"1", 10)
        # (states of different QoS may reach an observer in either order)
        await wait_for(lambda: state(admin, "detector") == b"hailo", 5)
        await wait_for(lambda: state(admin, "detector_problem") == b"OFF", 5)
        assert attributes(admin, "detector")["hailo_firmware"] == "4.18.0"
        await wait_for(lambda: bool(live(admin, f"{BASE}/inference")), 5)
        msg = InferenceMessage.from_payload(live(admin, f"{BASE}/inference")[0])
        assert msg.model_name == "yolov8s_h8"
        assert msg.detections[0]["box"] == [160, 80, 320, 400]  # 640x480 letterboxed to 640
    assert chip.inputs and chip.closed == 2  # teardown released the device


async def test_hailo_version_mismatch_falls_back_to_cpu_and_says_so(
        broker: Any, admin: Recorder, person: Path, tmp_path: Path) -> None:
    cfg = spark(broker, cameras=[camera(person)], detector=hailo_detector(tmp_path, "4.17.0"))
    async with running_hub(cfg, broker.passwords["hub"]) as hub, \
            running(cfg, broker, hailo_platform=standin(Chip())):
        await wait_for(lambda: "opencv-hog+frontalface_default" in models(admin), 10)  # cpu detects
        await wait_for(lambda: state(admin, "detector") == b"cpu", 5)
        await wait_for(lambda: state(admin, "detector_problem") == b"ON", 5)
        reason = "hailo unavailable: driver 4.17.0 vs library 4.18.0, using cpu"
        assert attributes(admin, "detector_problem")["reason"] == reason
        reg = hub.registry
        await wait_for(lambda: reg.get("binary_sensor.vision_detector_problem") is not None
                       and reg.get("binary_sensor.vision_detector_problem").state == "on"
                       and reg.get("sensor.vision_detector").attributes.get("reason") == reason,
                       10, what="the fallback reason in the hub registry")


async def test_hailo_failing_at_run_time_is_reopened_then_replaced_by_cpu(
        broker: Any, admin: Recorder, person: Path, tmp_path: Path) -> None:
    chip = Chip(num_classes=1, max_bboxes=10, boxes=[(0, 0.25, 0.25, 0.75, 0.5, 0.8)])
    cfg = spark(broker, cameras=[camera(person)], detector=hailo_detector(tmp_path, "4.18.0"),
                max_errors=3)
    async with running(cfg, broker, hailo_platform=standin(chip)) as node:
        await wait_for(lambda: "yolov8s_h8" in models(admin), 10)  # the chip detects
        chip.run_error = "HAILO_TIMEOUT(4)"  # the module stops answering ...
        chip.vdevice_error = "HAILO_OUT_OF_PHYSICAL_DEVICES(74)"  # ... and cannot be reopened
        await wait_for(lambda: state(admin, "detector") == b"cpu", 10,
                       what="fallback after repeated failures")
        # detector and detector_problem are separate topics (and QoS): the reason may arrive
        # after the detector's state, so wait for it rather than read what came so far
        await wait_for(lambda: str(attributes(admin, "detector_problem").get("reason"))
                       .endswith("using cpu"), 5, what="the fallback reason")
        reason = attributes(admin, "detector_problem")["reason"]
        assert reason.startswith("hailo unavailable: cannot load yolov8s_h8.hef: "
                                 "HAILO_OUT_OF_PHYSICAL_DEVICES(74)")
        problems = [orjson.loads(p)["reason"] for p in
                    live(admin, f"{BASE}/detector_problem/attributes")]
        assert any("hailo inference failed" in str(r) and "HAILO_TIMEOUT" in str(r)
                   for r in problems)
        await wait_for(lambda: state(admin, "detector_problem") == b"ON"
                       and node.selection is not None and node.selection.active == "cpu", 5)
        await wait_for(lambda: "opencv-hog+frontalface_default" in models(admin), 10)  # cpu detects


async def test_unreadable_camera_is_reported(broker: Any, admin: Recorder, tmp_path: Path) -> None:
    cfg = spark(broker, cameras=[camera(tmp_path / "missing")])
    async with running(cfg, broker):
        await wait_for(lambda: state(admin, "demo_source_problem") == b"ON", 10)
        error = attributes(admin, "demo_source_problem")["error"]
        assert "no such file or folder" in error


async def test_a_fresh_count_replaces_the_retained_one_at_start(broker: Any, admin: Recorder,
                                                                 person: Path) -> None:
    count, occupancy = f"{BASE}/demo_person_count/state", f"{BASE}/demo_person_occupancy/state"
    cfg = spark(broker, cameras=[camera(person)])
    async with running(cfg, broker):
        await wait_for(lambda: live(admin, count)[-1:] == [b"1"], 10, what="a person counted")
        await wait_for(lambda: live(admin, occupancy)[-1:] == [b"ON"], 5)
    # the next run does not detect (yet): the broker must not replay last run's count as fact
    async with running(spark(broker, cameras=[camera(person)], detect=False), broker):
        await wait_for(lambda: live(admin, count)[-1:] == [b"None"]
                       and live(admin, occupancy)[-1:] == [b"None"], 10,
                       what="count and occupancy unknown at start")
        late = Recorder(broker.host, broker.port, "admin", broker.passwords["admin"])
        late.connect()
        try:
            late.subscribe(count)
            await wait_for(lambda: [bytes(m.payload) for m in late.received(count)] == [b"None"],
                           5, what="the retained count is the fresh one")
        finally:
            late.close()


async def test_a_short_lived_false_positive_never_counts(broker: Any, admin: Recorder) -> None:
    # the sample scenes played once, each for 2 frames: the astronaut's face is seen in at most
    # 2 frames in a row, one fewer than confirm_frames (a face on a coin in a slide show)
    cfg = spark(broker, cameras=[camera(SAMPLES, fps=3, loop=False, repeat=2)],
                snapshot_interval=0, confirm_frames=3)
    async with running(cfg, broker) as node:
        await wait_for(lambda: node.slots.offered == 8 and len(node.slots) == 0
                       and node.inferences + node.slots.total_dropped == 8, 20,
                       what="all 8 frames analysed or dropped")
        await wait_for(lambda: any(b'"person"' in p for p in live(admin, f"{BASE}/inference")),
                       5, what="the detector's person records (it was seen)")
        assert b"1" not in live(admin, f"{BASE}/demo_person_count/state")
        assert b"ON" not in live(admin, f"{BASE}/demo_person_occupancy/state")
        assert not live(admin, f"{BASE}/demo_detection/state")  # no event ...
        assert not live(admin, f"{BASE}/demo_snapshot/state")  # ... and no snapshot
