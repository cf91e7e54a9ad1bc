"""What turns detector output into people: the built-in detector's merge (one box per person,
neighbours kept apart), the minimum area and the persistence tracker (an object counts only after
``confirm_frames`` frames), and the files source holding a still scene for several frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from spark.core.messages.detection import Detection
from spark.nodes.vision.detectors.builtin import merge_people
from spark.nodes.vision.detectors.cpu import CpuDetector, CpuDetectorConfig
from spark.nodes.vision.sources import FilesSourceConfig, make_source
from spark.nodes.vision.tracking import Tracker, big_enough, iou

W, H = 320, 240


def test_a_face_reaching_past_the_frame_and_its_body_are_one_person() -> None:
    # someone close to the camera: the body fills the frame's height and the 90 px face gives a
    # person box 630 px tall, far past the 240 px frame. Unclipped it overlaps the body box by
    # IoU 0.2 (two boxes for one person); it is that body's head
    body = ((150.0, 0.0, 300.0, 240.0), 0.8)
    face = ((180.0, 5.0, 270.0, 95.0), 0.9)
    assert merge_people([body], [face], 0.5, 0.3, W, H) == [body]


def test_neighbours_faces_stay_two_people() -> None:
    # two faces 10 px apart: their estimated person boxes overlap a lot, the faces do not
    left, right = ((60.0, 40.0, 100.0, 80.0), 0.9), ((110.0, 40.0, 150.0, 80.0), 0.8)
    found = merge_people([], [left, right], 0.5, 0.3, W, H)
    assert len(found) == 2
    for (x0, y0, x1, y1), _score in found:  # clipped to the frame
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    # the same face found twice (overlapping cascade hits) is one person
    twice = ((62.0, 41.0, 101.0, 80.0), 0.7)
    assert len(merge_people([], [left, twice], 0.5, 0.3, W, H)) == 1
    # a face below a body's upper half (someone in front of another) is another person
    body = ((40.0, 0.0, 120.0, 160.0), 0.8)
    low_face = ((60.0, 100.0, 90.0, 130.0), 0.9)
    assert len(merge_people([body], [low_face], 0.5, 0.3, W, H)) == 2
    assert merge_people([body], [low_face], 0.95, 0.3, W, H) == []  # the threshold applies


def test_two_people_side_by_side_in_a_photo_are_counted_two() -> None:
    her = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:400, 100:360]  # head, shoulders
    her = cv2.resize(her, (312, 480), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, :312], frame[:, 328:] = her, her  # side by side, 16 px apart
    det = CpuDetector(CpuDetectorConfig())
    det.open()
    found = det.detect(frame, 0.5)
    assert len(found) == 2 and {d.label for d in found} == {"person"}


def det(box: tuple[int, int, int, int], label: str = "person") -> Detection:
    return Detection(label, 0.9, box)


def test_tracker_confirms_after_confirm_frames_and_forgets_gaps() -> None:
    t = Tracker(confirm_frames=3, max_misses=2)
    a = (100, 100, 200, 300)
    assert t.update([det(a)]) == [] and t.update([det((104, 102, 204, 302))]) == []
    assert t.update([det((108, 104, 208, 304))]) == [det((108, 104, 208, 304))]  # 3rd frame
    assert t.update([]) == []  # unseen for a frame: nothing to report ...
    assert t.update([det(a)]) == [det(a)]  # ... but the track survives a flicker
    for _ in range(3):
        t.update([])  # gone for longer than max_misses frames: forgotten
    assert t.tracks == [] and t.update([det(a)]) == []
    # a one-frame false positive among the frames of a real object never counts
    t = Tracker(confirm_frames=2)
    other = (400, 10, 450, 60)
    assert t.update([det(a), det(other)]) == []
    assert t.update([det(a)]) == [det(a)]
    # labels are tracked apart, overlapping boxes or not
    t = Tracker(confirm_frames=2)
    t.update([det(a), det(a, "car")])
    assert {d.label for d in t.update([det(a), det(a, "car")])} == {"person", "car"}
    t.clear()
    assert t.update([det(a)]) == []
    assert Tracker(confirm_frames=1).update([det(a)]) == [det(a)]


def test_iou_and_min_area() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    small, big = det((0, 0, 30, 30)), det((0, 0, 50, 50))  # 900 and 2500 px
    assert big_enough([small, big], 0.005, 640, 480) == [big]  # least 1536 px
    assert big_enough([small, big], 0.0, 640, 480) == [small, big]


def test_files_source_repeats_each_image(tmp_path: Path) -> None:
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i * 100, np.uint8))
    src = make_source(FilesSourceConfig(path=tmp_path, repeat=3, loop=False))
    src.open()
    values = []
    while (frame := src.read()) is not None:
        values.append(int(frame[0, 0, 0]))
    assert values == [0, 0, 0, 100, 100, 100]
