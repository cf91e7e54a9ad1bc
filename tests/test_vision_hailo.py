"""The Hailo backend without the chip: pre-processing (letterbox, RGB) and NMS-on-chip parsing
with arrays in HailoRT's documented layouts, the device calls through a stand-in for
``hailo_platform`` (tests/fixtures/vision/hailo_standin.py), the start-up check, and the
selection: Hailo present -> hailo; absent / driver or firmware mismatch -> cpu, with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures.vision.hailo_standin import Chip, standin

from spark.nodes.system.parsers import parse_hailo_identify
from spark.nodes.vision.detectors import Detection, open_detector
from spark.nodes.vision.detectors.cpu import CpuDetectorConfig
from spark.nodes.vision.detectors.hailo import HailoDetector, HailoDetectorConfig
from spark.nodes.vision.detectors.hailo_check import check_device, mismatch_reason
from spark.nodes.vision.detectors.hailo_nms import parse_nms_by_class, per_class_arrays
from spark.nodes.vision.detectors.letterbox import Letterbox
from spark.nodes.vision.errors import DetectorUnavailable

LABELS = ["person", "bicycle", "car"]
LB = Letterbox.fit(640, 480, 640, 640)  # pad_y 80


def raw_buffer(per_class: list[list[list[float]]], max_bboxes: int) -> np.ndarray:
    """HailoRT's raw NMS_BY_CLASS float32 buffer: per class, count then max_bboxes x 5 floats."""
    out = np.zeros(len(per_class) * (1 + 5 * max_bboxes), np.float32)
    for i, boxes in enumerate(per_class):
        base = i * (1 + 5 * max_bboxes)
        out[base] = len(boxes)
        out[base + 1: base + 1 + 5 * len(boxes)] = np.ravel(boxes)
    return out


PER_CLASS = [
    [[0.25, 0.25, 0.75, 0.5, 0.91], [0.125, 0.5, 0.25, 0.625, 0.30]],  # person: one weak
    [],
    [[0.5, 0.0, 1.0, 0.5, 0.66]],  # car, reaching into the bottom padding
]
EXPECTED = [Detection("person", pytest.approx(0.91), (160, 80, 320, 400)),
            Detection("car", pytest.approx(0.66), (0, 240, 320, 479))]


@pytest.mark.parametrize("form", ["raw", "raw-2d", "list", "batch-list"])
def test_parse_nms_by_class_layouts(form: str) -> None:
    raw = raw_buffer(PER_CLASS, max_bboxes=4)
    data = {"raw": raw, "raw-2d": raw.reshape(3, -1),
            "list": [np.array(c, np.float32).reshape(-1, 5) for c in PER_CLASS],
            "batch-list": [[np.array(c, np.float32).reshape(-1, 5) for c in PER_CLASS]]}[form]
    assert parse_nms_by_class(data, LABELS, 0.5, LB) == EXPECTED
    assert len(parse_nms_by_class(data, LABELS, 0.2, LB)) == 3


def test_nms_buffer_errors() -> None:
    with pytest.raises(ValueError, match="does not split"):
        per_class_arrays(np.zeros(7, np.float32), 3)
    with pytest.raises(ValueError, match="1 \\+ 5 x max_bboxes"):
        per_class_arrays(np.zeros(9, np.float32), 3)
    bad = raw_buffer([[[0, 0, 1, 1, 1]]], max_bboxes=1)
    bad[0] = 5  # more boxes than slots
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        per_class_arrays(bad, 1)


# ---- start-up check ---------------------------------------------------------------------------
def driver_file(tmp_path: Path, version: str | None) -> Path:
    path = tmp_path / "hailo_pci_version"
    if version is not None:
        path.write_text(version + "\n")
    return path


@pytest.mark.parametrize(("chip", "driver", "reason"), [
    (Chip(), "4.18.0", None),
    (Chip(), None, None),  # driver version unreadable: the identify call still checks
    (Chip(devices=()), "4.18.0", "no Hailo device found"),
    (Chip(), "4.17.0", "driver 4.17.0 vs library 4.18.0"),
    (Chip(firmware=(4, 17, 0)), "4.18.0", "firmware 4.17.0 vs library 4.18.0"),
    (Chip(identify_error="CHECK failed - Driver version (4.20.0) is different from library "
                         "version (4.18.0)"), None, "driver 4.20.0 vs library 4.18.0"),
    (Chip(scan_error="HAILO_DRIVER_NOT_INSTALLED(64)"), None, "device scan failed"),
])
def test_check_device(tmp_path: Path, chip: Chip, driver: str | None, reason: str | None) -> None:
    status = check_device(standin(chip), driver_file(tmp_path, driver))
    if reason is None:
        assert status.usable and status.firmware == "4.18.0" and status.architecture == "HAILO8"
        assert status.device_id == "0000:01:00.0" and chip.released == 1
    else:
        assert reason in str(status.reason)
    assert status.library == "4.18.0"


def test_mismatch_text_and_cli_identify() -> None:
    assert mismatch_reason("[HailoRT] [error] CHECK failed - Driver version (4.17.0) is "
                           "different from library version (4.18.0)") == \
        "driver 4.17.0 vs library 4.18.0"
    assert mismatch_reason("HAILO_OUT_OF_PHYSICAL_DEVICES") is None
    text = (Path(__file__).parent / "fixtures/system/hailortcli_identify.txt").read_text()
    assert parse_hailo_identify(text).architecture == "HAILO8"  # the CLI view agrees


# ---- the detector through the stand-in ------------------------------------------------------
def hailo_config(tmp_path: Path, driver: str | None = "4.18.0") -> HailoDetectorConfig:
    hef = tmp_path / "yolov8s_h8.hef"
    hef.write_bytes(b"HEF stand-in")
    return HailoDetectorConfig(hef=hef, labels=LABELS, driver_version_file=driver_file(
        tmp_path, driver))


@pytest.mark.parametrize("layout", ["raw", "list"])
def test_hailo_detector_end_to_end(tmp_path: Path, layout: str) -> None:
    boxes = [(c, *b) for c, bs in enumerate(PER_CLASS) for b in bs]
    chip = Chip(num_classes=3, max_bboxes=4, layout=layout, boxes=boxes)  # type: ignore[arg-type]
    det = HailoDetector(hailo_config(tmp_path), platform=standin(chip))
    det.open()
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :, 0] = 255  # blue in BGR
    assert det.detect(frame, 0.5) == EXPECTED
    image = chip.inputs[-1]
    assert image.shape == (640, 640, 3)
    assert (image[0, 0] == 114).all() and (image[639, 639] == 114).all()  # letterbox bars
    assert tuple(image[320, 320]) == (0, 0, 255)  # RGB order for the model
    assert chip.formats == {"yolo/input_layer1": "UINT8",
                            "yolo/yolov8_nms_postprocess": "FLOAT32"}
    assert det.model_name == "yolov8s_h8" and det.info()["hailo_firmware"] == "4.18.0"
    det.close()
    assert chip.closed == 2  # configured model and vdevice released


def test_hailo_detector_unavailable_reasons(tmp_path: Path) -> None:
    cfg = hailo_config(tmp_path)
    with pytest.raises(DetectorUnavailable, match=r"HEF .* not found"):
        HailoDetector(cfg.model_copy(update={"hef": tmp_path / "x.hef"}),
                      platform=standin(Chip())).open()
    with pytest.raises(DetectorUnavailable, match=r"cannot load yolov8s_h8\.hef: busy"):
        HailoDetector(cfg, platform=standin(Chip(vdevice_error="busy"))).open()


# ---- selection ------------------------------------------------------------------------------
CPU = CpuDetectorConfig()


def test_selection_hailo_present(tmp_path: Path) -> None:
    sel = open_detector(hailo_config(tmp_path), CPU, hailo_platform=standin(Chip()))
    assert sel.active == "hailo" and sel.reason is None and not sel.degraded
    assert sel.attributes()["hailort_library"] == "4.18.0"


def test_selection_hailo_absent_uses_cpu(tmp_path: Path) -> None:
    # no stand-in: the real import of hailo_platform fails on this machine
    sel = open_detector(hailo_config(tmp_path), CPU)
    assert sel.active == "cpu" and sel.degraded
    assert sel.reason == ("hailo unavailable: HailoRT's Python API (hailo_platform) is not "
                          "installed (apt install hailo-all / python3-hailort), using cpu")


def test_selection_version_mismatch_uses_cpu(tmp_path: Path) -> None:
    sel = open_detector(hailo_config(tmp_path, driver="4.17.0"), CPU,
                        hailo_platform=standin(Chip()))
    assert sel.active == "cpu"
    assert sel.reason == "hailo unavailable: driver 4.17.0 vs library 4.18.0, using cpu"
    attrs = sel.attributes()
    assert attrs["requested"] == "hailo" and attrs["hailo_driver"] == "4.17.0"
    assert attrs["model"] == "opencv-hog+frontalface_default"


def test_selection_without_fallback(tmp_path: Path) -> None:
    sel = open_detector(hailo_config(tmp_path), None, hailo_platform=standin(Chip(devices=())))
    assert sel.active == "none" and sel.detector is None
    assert sel.reason is not None and sel.reason.endswith(", no fallback")
