"""The CPU detector: an ONNX model through OpenCV's DNN module when one is configured, else the
built-in people detector (HOG + Haar cascade, ``builtin.py``) that needs no download."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from spark.core.messages.detection import Detection
from spark.nodes.vision.detectors.base import Detector, DetectorConfigBase
from spark.nodes.vision.detectors.labels import COCO80
from spark.nodes.vision.errors import DetectorError, DetectorUnavailable, require_cv2

if TYPE_CHECKING:
    import numpy as np


class BuiltinDetectorConfig(DetectorConfigBase):
    width: int = Field(320, ge=64, le=1920, description="Frames are shrunk to this width "
                       "before detection: the speed / small-object trade-off (400: faces from "
                       "48 px instead of 60 px in a 640x480 frame, about half the frames/s).")
    hog: bool = Field(True, description="HOG pedestrian detector (whole standing people).")
    hog_win_stride: int = Field(8, ge=4, le=32, description="HOG window step in pixels.")
    hog_scale: float = Field(1.1, gt=1.0, le=2.0, description="HOG pyramid scale step.")
    cascade: str | None = Field(
        "haarcascade_frontalface_default.xml",
        description="Haar cascade file (name inside cv2.data.haarcascades, or a path) for people "
        "close to the camera; e.g. haarcascade_fullbody.xml; None: off.")
    cascade_scale: float = Field(1.2, gt=1.0, le=2.0, description="Cascade pyramid scale step.")
    cascade_min_neighbors: int = Field(4, ge=1, description="Cascade hits needed per object.")
    cascade_min_size: int = Field(30, ge=8, description="Smallest cascade object (pixels at "
                                  "the working width).")


class CpuDetectorConfig(DetectorConfigBase):
    type: Literal["cpu"] = "cpu"
    model: Path | None = Field(
        None, description="ONNX detector with a YOLOv8/YOLO11-style output [1, 4+classes, N] "
        "(e.g. yolov8n.onnx); None: the built-in people detector.")
    labels: list[str] = Field(list(COCO80), description="The ONNX model's class names in order.")
    input_size: int = Field(640, ge=32, description="The ONNX model's square input size.")
    nms_iou: float = Field(0.45, gt=0, lt=1, description="Overlap above which boxes merge.")
    threads: int = Field(1, ge=0, description="OpenCV worker threads (0: OpenCV's default, "
                         "all cores).")
    builtin: BuiltinDetectorConfig = Field(default_factory=lambda: BuiltinDetectorConfig())


class CpuDetector(Detector):
    type = "cpu"
    config: CpuDetectorConfig

    def __init__(self, config: CpuDetectorConfig) -> None:
        super().__init__(config)
        self._net: Any = None
        self._people: Any = None
        self._cv2: Any = None

    @property
    def model_name(self) -> str:
        if self.config.model is not None:
            return self.config.model.stem
        return self._people.model_name if self._people is not None else "opencv-builtin"

    def info(self) -> dict[str, Any]:
        cv2 = self._cv2
        return {"model": self.model_name, "opencv": getattr(cv2, "__version__", None),
                "model_path": str(self.config.model) if self.config.model else None,
                "threads": self.config.threads}

    def open(self) -> None:
        cv2 = self._cv2 = require_cv2(DetectorUnavailable)
        if self.config.threads:
            cv2.setNumThreads(self.config.threads)
        if self.config.model is None:
            from spark.nodes.vision.detectors.builtin import BuiltinParams, PeopleDetector

            self._people = PeopleDetector(BuiltinParams(**self.config.builtin.model_dump()))
            return
        path = self.config.model
        if not path.is_file():
            raise DetectorUnavailable(f"ONNX model {path} not found")
        try:
            self._net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise DetectorUnavailable(f"OpenCV cannot load {path}: {exc}") from exc

    def detect(self, frame: np.ndarray, threshold: float) -> list[Detection]:
        if self._people is not None:
            return self._people.detect(frame, threshold)  # type: ignore[no-any-return]
        if self._net is None:
            raise DetectorError("cpu detector is not open")
        from spark.nodes.vision.detectors.letterbox import letterbox
        from spark.nodes.vision.detectors.yolo import decode_yolo

        cv2, size = self._cv2, self.config.input_size
        image, lb = letterbox(frame, size, size)
        blob = cv2.dnn.blobFromImage(image, 1.0 / 255.0, (size, size), swapRB=True)
        try:
            self._net.setInput(blob)
            output = self._net.forward()
            return decode_yolo(output, self.config.labels, threshold, lb, self.config.nms_iou)
        except (cv2.error, ValueError) as exc:
            raise DetectorError(f"{self.model_name}: {exc}") from exc

    def close(self) -> None:
        self._net = self._people = None
