"""The Hailo detector: a YOLO HEF from Hailo's model zoo with NMS on the chip, through HailoRT's
Python API (``hailo_platform``: ``VDevice`` -> ``create_infer_model`` -> ``configure`` ->
bindings -> ``run``).

``hailo_platform`` is not on PyPI: it comes with Hailo's packages (Raspberry Pi OS: ``apt install
hailo-all``; in a venv use ``--system-site-packages``). It is imported on open, or a stand-in with
the same interface is passed in. Before the model loads, ``hailo_check.check_device`` verifies the
device and the driver / firmware / library versions, so a mismatch becomes a stated reason and
the node falls back to the CPU instead of silently detecting nothing.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from spark.core.messages.detection import Detection
from spark.nodes.vision.detectors.base import Detector, DetectorConfigBase
from spark.nodes.vision.detectors.hailo_check import (
    DRIVER_VERSION_FILE,
    HailoStatus,
    check_device,
    mismatch_reason,
)
from spark.nodes.vision.detectors.labels import COCO80
from spark.nodes.vision.errors import DetectorError, DetectorUnavailable, require_cv2

if TYPE_CHECKING:
    import numpy as np

DEFAULT_HEF = Path("/usr/share/hailo-models/yolov8s_h8.hef")


class HailoDetectorConfig(DetectorConfigBase):
    type: Literal["hailo"] = "hailo"
    hef: Path = Field(DEFAULT_HEF, description="Compiled YOLO model with NMS on chip for this "
                      "chip (Hailo-8: *_h8.hef / hailo8/*.hef, e.g. yolov8s or yolov6n from "
                      "Hailo's model zoo).")
    labels: list[str] = Field(list(COCO80), description="Class names in the HEF's order.")
    timeout_ms: int = Field(1000, ge=10, description="Longest wait for one inference.")
    driver_version_file: Path = Field(DRIVER_VERSION_FILE, description="Where the loaded "
                                      "hailo_pci driver reports its version.")


class HailoDetector(Detector):
    type = "hailo"
    config: HailoDetectorConfig

    def __init__(self, config: HailoDetectorConfig, *, platform: Any = None) -> None:
        super().__init__(config)
        self._platform = platform
        self.status = HailoStatus()
        self._stack = contextlib.ExitStack()
        self._configured: Any = None
        self._input_hw = (0, 0)
        self._output: tuple[str, tuple[int, ...]] = ("", ())
        self._cv2: Any = None

    @property
    def model_name(self) -> str:
        return self.config.hef.stem

    def info(self) -> dict[str, Any]:
        return {"model": self.model_name, "hef": str(self.config.hef), **self.status.attributes()}

    def _import_platform(self) -> Any:
        if self._platform is not None:
            return self._platform
        try:
            return importlib.import_module("hailo_platform")
        except ImportError as exc:
            raise DetectorUnavailable("HailoRT's Python API (hailo_platform) is not installed "
                                      "(apt install hailo-all / python3-hailort)") from exc
        except Exception as exc:  # pyhailort raises its own errors when its parts disagree
            raise DetectorUnavailable(mismatch_reason(str(exc)) or
                                      f"hailo_platform failed to load: {exc}") from exc

    def open(self) -> None:
        self._cv2 = require_cv2(DetectorUnavailable)
        platform = self._import_platform()
        self.status = check_device(platform, self.config.driver_version_file)
        if self.status.reason is not None:
            raise DetectorUnavailable(self.status.reason)
        hef = self.config.hef
        if not hef.is_file():
            raise DetectorUnavailable(f"HEF {hef} not found (get a Hailo-8 YOLO HEF from "
                                      "Hailo's model zoo, e.g. yolov8s_h8.hef)")
        try:
            vdevice = self._stack.enter_context(platform.VDevice())
            model = vdevice.create_infer_model(str(hef))
            model.input().set_format_type(platform.FormatType.UINT8)
            model.output().set_format_type(platform.FormatType.FLOAT32)
            self._configured = self._stack.enter_context(model.configure())
            height, width = model.input().shape[:2]
            output = model.output()
            self._input_hw = (int(height), int(width))
            self._output = (output.name, tuple(output.shape))
        except Exception as exc:
            self.close()
            raise DetectorUnavailable(mismatch_reason(str(exc)) or
                                      f"cannot load {hef.name}: {exc}") from exc

    def detect(self, frame: np.ndarray, threshold: float) -> list[Detection]:
        if self._configured is None:
            raise DetectorError("hailo detector is not open")
        import numpy as np

        from spark.nodes.vision.detectors.hailo_nms import parse_nms_by_class
        from spark.nodes.vision.detectors.letterbox import letterbox

        cv2 = self._cv2
        height, width = self._input_hw
        image, lb = letterbox(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), width, height)
        name, shape = self._output
        try:
            bindings = self._configured.create_bindings(
                output_buffers={name: np.empty(shape, dtype=np.float32)})
            bindings.input().set_buffer(image)
            self._configured.run([bindings], self.config.timeout_ms)
            raw = bindings.output().get_buffer()
            return parse_nms_by_class(raw, self.config.labels, threshold, lb)
        except Exception as exc:
            raise DetectorError(f"{self.model_name}: {exc}") from exc

    def close(self) -> None:
        self._configured = None
        with contextlib.suppress(Exception):
            self._stack.close()
        self._stack = contextlib.ExitStack()
