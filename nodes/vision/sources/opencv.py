"""Frames through OpenCV's ``VideoCapture``: a USB camera by index, an RTSP / HTTP URL, or a
video file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from spark.nodes.vision.errors import SourceError, require_cv2
from spark.nodes.vision.sources.base import FrameSource, SourceConfigBase

if TYPE_CHECKING:
    import numpy as np


class OpenCVSourceConfig(SourceConfigBase):
    type: Literal["opencv"] = "opencv"
    device: int | str = Field(0, description="Camera index (/dev/videoN) or a stream URL / "
                              "video file, e.g. rtsp://user:pass@cam.lan:554/stream1.")
    width: int | None = Field(None, gt=0, description="Requested capture width.")
    height: int | None = Field(None, gt=0, description="Requested capture height.")


class OpenCVSource(FrameSource):
    type = "opencv"
    config: OpenCVSourceConfig

    def __init__(self, config: OpenCVSourceConfig) -> None:
        super().__init__(config)
        self._cap: Any = None

    @property
    def name(self) -> str:
        device = self.config.device
        if isinstance(device, str) and "@" in device:  # never show stream credentials
            scheme, _, rest = device.partition("://")
            device = f"{scheme}://***@{rest.rpartition('@')[2]}"
        return f"opencv {device}"

    def open(self) -> None:
        cv2 = require_cv2(SourceError)
        cap = cv2.VideoCapture(self.config.device)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.name}: cannot open")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the newest frame, not a backlog
        if self.config.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.config.width)
        if self.config.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.config.height)
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.name}: not open")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"{self.name}: no frame (stream ended or camera gone)")
        return frame  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
