"""Decoding a YOLOv8 / YOLO11-style ONNX output (``[1, 4 + classes, N]``: centre x, centre y,
width, height in model-input pixels, then one score per class) into detections, with per-class
non-maximum suppression."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from spark.core.messages.detection import Detection
from spark.nodes.vision.detectors.letterbox import Letterbox


def decode_yolo(output: np.ndarray, labels: Sequence[str], threshold: float, lb: Letterbox,
                iou: float = 0.45, max_detections: int = 100) -> list[Detection]:
    """``output`` of shape ``(1, 4 + C, N)`` (or ``(1, N, 4 + C)``) -> detections, best first."""
    pred = np.asarray(output, dtype=np.float32)
    if pred.ndim == 3:
        pred = pred[0]
    if pred.ndim != 2:
        raise ValueError(f"YOLO output of shape {np.shape(output)} is not (1, 4+C, N)")
    if pred.shape[0] != 4 + len(labels) and pred.shape[1] == 4 + len(labels):
        pred = pred.T
    if pred.shape[0] != 4 + len(labels):
        raise ValueError(f"YOLO output has {pred.shape[0]} rows, expected 4 + {len(labels)} "
                         "classes: check the detector's labels")
    scores = pred[4:]
    class_ids = scores.argmax(axis=0)
    best = scores[class_ids, np.arange(scores.shape[1])]
    keep = best >= threshold
    if not keep.any():
        return []
    cx, cy, w, h = pred[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    conf, cls = best[keep], class_ids[keep]
    picked = cv2.dnn.NMSBoxesBatched(boxes.tolist(), conf.tolist(), cls.tolist(),
                                     threshold, iou, top_k=max_detections)
    found = []
    for i in np.asarray(picked, dtype=int).ravel():
        x, y, bw, bh = boxes[i]
        box = lb.to_source(x, y, x + bw, y + bh)
        if box[2] > box[0] and box[3] > box[1]:
            found.append(Detection(labels[int(cls[i])], float(conf[i]), box))
    found.sort(key=lambda d: d.score, reverse=True)
    return found
