"""Frames from a Raspberry Pi camera through ``picamera2`` (Raspberry Pi OS:
``apt install python3-picamera2``; not on PyPI for every platform, so imported on open)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from spark.nodes.vision.errors import SourceError
from spark.nodes.vision.sources.base import FrameSource, SourceConfigBase

if TYPE_CHECKING:
    import numpy as np


class Picamera2SourceConfig(SourceConfigBase):
    type: Literal["picamera2"] = "picamera2"
    camera: int = Field(0, ge=0, description="Camera number (0: the first CSI camera).")
    size: tuple[int, int] = Field((640, 480), description="Frame size [width, height].")


class Picamera2Source(FrameSource):
    type = "picamera2"
    config: Picamera2SourceConfig

    def __init__(self, config: Picamera2SourceConfig) -> None:
        super().__init__(config)
        self._cam: Any = None

    @property
    def name(self) -> str:
        return f"picamera2 {self.config.camera}"

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError("picamera2 is not installed (Raspberry Pi OS: apt install "
                              "python3-picamera2; in a venv use --system-site-packages)") from exc
        try:
            cam = Picamera2(self.config.camera)
            # libcamera's "RGB888" is B, G, R in memory: OpenCV's order.
            cam.configure(cam.create_video_configuration(
                main={"size": tuple(self.config.size), "format": "RGB888"}))
            cam.start()
        except Exception as exc:  # libcamera raises RuntimeError / IndexError / OSError
            raise SourceError(f"{self.name}: {exc}") from exc
        self._cam = cam

    def read(self) -> np.ndarray | None:
        if self._cam is None:
            raise SourceError(f"{self.name}: not open")
        try:
            return self._cam.capture_array("main")  # type: ignore[no-any-return]
        except Exception as exc:
            raise SourceError(f"{self.name}: {exc}") from exc

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()
