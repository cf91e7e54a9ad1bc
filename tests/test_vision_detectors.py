"""The CPU detector on real images: scikit-image's astronaut photo has a person, empty scenes
(coffee cup, brick wall, a cat, a gradient) have none; the ONNX path through OpenCV DNN with a
tiny YOLO-shaped model; frame sources; annotated snapshots."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from spark.nodes.vision.detectors import Detection, make_detector
from spark.nodes.vision.detectors.cpu import CpuDetector, CpuDetectorConfig
from spark.nodes.vision.draw import annotate, snapshot
from spark.nodes.vision.errors import DetectorUnavailable, SourceError
from spark.nodes.vision.pipeline import Zone
from spark.nodes.vision.samples.render import cover
from spark.nodes.vision.sources import FilesSourceConfig, make_source
from spark.nodes.vision.sources.opencv import OpenCVSource, OpenCVSourceConfig

FIXTURES = Path(__file__).parent / "fixtures" / "vision"


def gradient() -> np.ndarray:
    ramp = np.linspace(0, 255, 640, dtype=np.uint8)
    return np.dstack([np.tile(ramp, (480, 1))] * 3)


SCENES = {name: cover(getattr(data, name)()) for name in ("astronaut", "coffee", "brick",
                                                           "chelsea")}


@pytest.fixture(scope="module")
def builtin() -> CpuDetector:
    det = CpuDetector(CpuDetectorConfig())
    det.open()
    return det


def test_person_found_in_the_astronaut_photo(builtin: CpuDetector) -> None:
    frame = SCENES["astronaut"]
    found = builtin.detect(frame, 0.5)
    assert [d.label for d in found] == ["person"]
    x0, y0, x1, y1 = found[0].box
    # her face is at about x 210-350, y 20-130 of the 640x480 crop: inside the person box
    assert x0 < 210 and x1 > 350 and y0 < 40 and y1 > 300
    assert 0.5 <= found[0].score <= 1.0
    assert builtin.detect(frame, 0.99) == []  # the threshold applies
    assert builtin.model_name == "opencv-hog+frontalface_default"


@pytest.mark.parametrize("scene", ["coffee", "brick", "chelsea", "gradient"])
def test_no_person_in_empty_scenes(builtin: CpuDetector, scene: str) -> None:
    frame = gradient() if scene == "gradient" else SCENES[scene]
    assert builtin.detect(frame, 0.5) == []


def test_builtin_options_and_bad_cascade() -> None:
    hog_only = CpuDetector(CpuDetectorConfig.model_validate({"builtin": {"cascade": None}}))
    hog_only.open()
    assert hog_only.model_name == "opencv-hog" and hog_only.detect(SCENES["coffee"], 0.5) == []
    bad = CpuDetector(CpuDetectorConfig.model_validate({"builtin": {"cascade": "nope.xml"}}))
    with pytest.raises(DetectorUnavailable, match="cannot load the Haar cascade"):
        bad.open()


def test_onnx_model_through_opencv_dnn() -> None:
    det = make_detector(CpuDetectorConfig(model=FIXTURES / "tiny_yolo.onnx",
                                          labels=["person", "car"], input_size=64))
    det.open()
    frame = np.zeros((96, 128, 3), np.uint8)
    assert det.detect(frame, 0.5) == [Detection("person", pytest.approx(0.9), (48, 16, 80, 80))]
    assert [d.label for d in det.detect(frame, 0.25)] == ["person", "car"]
    assert det.model_name == "tiny_yolo"
    missing = make_detector(CpuDetectorConfig(model=FIXTURES / "missing.onnx"))
    with pytest.raises(DetectorUnavailable, match="not found"):
        missing.open()


def test_files_source_folder_file_and_errors(tmp_path: Path) -> None:
    for i, name in enumerate(("b.png", "a.jpg")):
        cv2.imwrite(str(tmp_path / name), np.full((30, 40, 3), i * 100, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    src = make_source(FilesSourceConfig(path=tmp_path, size=(20, 10)))
    src.open()
    frames = [src.read() for _ in range(3)]
    assert [f.shape for f in frames] == [(10, 20, 3)] * 3
    assert [int(f[0, 0, 0]) for f in frames] == [100, 0, 100]  # name order, looping
    once = make_source(FilesSourceConfig(path=tmp_path / "a.jpg", loop=False))
    once.open()
    assert once.read() is not None and once.read() is None
    empty = tmp_path / "empty"
    empty.mkdir()
    for path, error in ((empty, "no images"), (tmp_path / "nope", "no such file")):
        with pytest.raises(SourceError, match=error):
            make_source(FilesSourceConfig(path=path)).open()
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    broken = make_source(FilesSourceConfig(path=tmp_path / "broken.jpg"))
    broken.open()
    with pytest.raises(SourceError, match="not a readable image"):
        broken.read()


def test_opencv_source_reads_a_video_file_and_hides_credentials(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), i * 80, np.uint8))
    writer.release()
    src = OpenCVSource(OpenCVSourceConfig(device=str(path)))
    src.open()
    assert [src.read().shape for _ in range(3)] == [(48, 64, 3)] * 3
    with pytest.raises(SourceError, match="no frame"):
        src.read()
    src.close()
    with pytest.raises(SourceError, match="cannot open"):
        OpenCVSource(OpenCVSourceConfig(device=str(tmp_path / "none.avi"))).open()
    cam = OpenCVSource(OpenCVSourceConfig(device="rtsp://user:secret@cam.lan:554/s1"))
    assert "secret" not in cam.name and cam.name == "opencv rtsp://***@cam.lan:554/s1"


def test_snapshot_draws_boxes_and_zones_on_a_copy() -> None:
    frame = SCENES["coffee"]
    before = frame.copy()
    det = Detection("person", 0.87, (100, 100, 300, 400))
    drawn = annotate(frame, [det], [Zone("porch", ((0, 0.5), (1, 0.5), (1, 1), (0, 1)))])
    assert (frame == before).all() and not (drawn == before).all()
    jpeg = snapshot(frame, [det])
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) < 100_000
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
