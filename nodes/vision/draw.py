"""Snapshots: the frame with zones and detection boxes drawn, as JPEG bytes."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from spark.core.messages.detection import Detection
from spark.nodes.vision.errors import VisionError
from spark.nodes.vision.pipeline import Zone

BOX_COLOUR = (0, 200, 255)  # BGR amber
ZONE_COLOUR = (255, 160, 0)


def annotate(frame: np.ndarray, detections: Sequence[Detection], zones: Sequence[Zone] = ()
             ) -> np.ndarray:
    """A copy of ``frame`` with zone outlines and labelled boxes (the frame is not modified)."""
    out = frame.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(w, h) / 240))
    for zone in zones:
        pts = np.array([[round(x * (w - 1)), round(y * (h - 1))] for x, y in zone.polygon],
                       dtype=np.int32)
        cv2.polylines(out, [pts], True, ZONE_COLOUR, thick)
        cv2.putText(out, zone.id, tuple(int(v) for v in pts[0] + [4, 16]),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, ZONE_COLOUR, 1, cv2.LINE_AA)
    for det in detections:
        x0, y0, x1, y1 = det.box
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_COLOUR, thick)
        text = f"{det.label} {det.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(0, y0 - th - base - 2)
        cv2.rectangle(out, (x0, top), (x0 + tw + 4, top + th + base + 2), BOX_COLOUR, -1)
        cv2.putText(out, text, (x0 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return out


def encode_jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VisionError("JPEG encoding failed")
    return buf.tobytes()


def snapshot(frame: np.ndarray, detections: Sequence[Detection], zones: Sequence[Zone] = (),
             quality: int = 80) -> bytes:
    return encode_jpeg(annotate(frame, detections, zones), quality)
