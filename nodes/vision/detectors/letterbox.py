"""Letterboxing: fit a frame into a model's square (or any) input without distorting it, and map
boxes back. The image is scaled by ``min(W/w, H/h)``, centred, and the borders filled with grey
114 (what YOLO models are trained with and what Hailo's examples use)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spark.core.messages.detection import Box
from spark.nodes.vision.detectors.base import clip_box

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    scale: float
    pad_x: int
    pad_y: int

    @classmethod
    def fit(cls, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Letterbox:
        scale = min(dst_w / src_w, dst_h / src_h)
        new_w, new_h = round(src_w * scale), round(src_h * scale)
        return cls(src_w, src_h, dst_w, dst_h, scale, (dst_w - new_w) // 2, (dst_h - new_h) // 2)

    def to_source(self, x0: float, y0: float, x1: float, y1: float) -> Box:
        """A box in model-input pixels -> the source frame's pixels (clipped)."""
        s = self.scale
        return clip_box((x0 - self.pad_x) / s, (y0 - self.pad_y) / s,
                        (x1 - self.pad_x) / s, (y1 - self.pad_y) / s, self.src_w, self.src_h)

    def normalized_to_source(self, y_min: float, x_min: float, y_max: float, x_max: float) -> Box:
        """A box normalised to the model input (0..1, Hailo's y-first order) -> source pixels."""
        return self.to_source(x_min * self.dst_w, y_min * self.dst_h,
                              x_max * self.dst_w, y_max * self.dst_h)


def letterbox(frame: np.ndarray, dst_w: int, dst_h: int) -> tuple[np.ndarray, Letterbox]:
    """``frame`` (HxWxC uint8) scaled into a ``dst_h`` x ``dst_w`` canvas, and the mapping."""
    src_h, src_w = frame.shape[:2]
    lb = Letterbox.fit(src_w, src_h, dst_w, dst_h)
    new_w, new_h = round(src_w * lb.scale), round(src_h * lb.scale)
    canvas = np.full((dst_h, dst_w, frame.shape[2]), PAD_VALUE, dtype=np.uint8)
    interp = cv2.INTER_AREA if lb.scale < 1 else cv2.INTER_LINEAR
    resized = frame if (new_w, new_h) == (src_w, src_h) else cv2.resize(
        frame, (new_w, new_h), interpolation=interp)
    canvas[lb.pad_y:lb.pad_y + new_h, lb.pad_x:lb.pad_x + new_w] = resized
    return canvas, lb
