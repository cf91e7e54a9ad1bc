"""Frames from an image file or a folder of images, in name order, looping (tests, replays and
the bundled demo that ``spark up`` runs on a machine without a camera)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from spark.nodes.vision.errors import SourceError, require_cv2
from spark.nodes.vision.sources.base import FrameSource, SourceConfigBase

if TYPE_CHECKING:
    import numpy as np

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
CACHE_LIMIT = 32  # decoded frames kept in memory when looping over a small folder


class FilesSourceConfig(SourceConfigBase):
    type: Literal["files"] = "files"
    path: Path = Field(SAMPLES, description="An image file or a folder of images (jpg, png, "
                       "bmp, webp; name order). Default: the bundled sample scenes.")
    loop: bool = Field(True, description="Start again after the last image.")
    repeat: int = Field(1, ge=1, le=1000, description="Offer each image this many frames in a "
                        "row: a still scene lasts long enough for the node's confirm_frames.")
    size: tuple[int, int] | None = Field(
        None, description="Resize every frame to [width, height]; None: keep each image's size.")


class FilesSource(FrameSource):
    type = "files"
    config: FilesSourceConfig

    def __init__(self, config: FilesSourceConfig) -> None:
        super().__init__(config)
        self._files: list[Path] = []
        self._index = 0
        self._shown = 0  # times the current image was offered
        self._cache: dict[Path, np.ndarray] = {}
        self._cv2: Any = None

    @property
    def name(self) -> str:
        return f"files {self.config.path}"

    def open(self) -> None:
        self._cv2 = require_cv2(SourceError)
        path = self.config.path
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files = [path]
        else:
            raise SourceError(f"{path}: no such file or folder")
        if not files:
            raise SourceError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)})")
        self._files, self._index, self._shown = files, 0, 0

    def read(self) -> np.ndarray | None:
        if not self._files:
            raise SourceError("files source is not open")
        if self._index >= len(self._files):
            if not self.config.loop:
                return None
            self._index = 0
        path = self._files[self._index]
        self._shown += 1
        if self._shown >= self.config.repeat:
            self._index, self._shown = self._index + 1, 0
        frame = self._cache.get(path)
        if frame is None:
            frame = self._decode(path)
            if len(self._files) <= CACHE_LIMIT:
                self._cache[path] = frame
        return frame

    def _decode(self, path: Path) -> np.ndarray:
        cv2: Any = self._cv2
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise SourceError(f"{path}: not a readable image")
        if self.config.size is not None:
            frame = cv2.resize(frame, self.config.size, interpolation=cv2.INTER_AREA)
        return frame

    def close(self) -> None:
        self._files, self._cache = [], {}
