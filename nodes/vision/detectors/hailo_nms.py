"""Parsing Hailo's NMS-on-chip output (``HAILO_NMS_BY_CLASS``, float32) into detections.

HailoRT documents two forms of the same data:

* the raw buffer: for each class in turn, one float ``count`` followed by
  ``max_bboxes_per_class`` slots of 5 floats ``[y_min, x_min, y_max, x_max, score]``
  (``hailo_bbox_float32_t``), of which the first ``count`` are filled;
* what pyhailort hands Python for such an output: a list with one entry per class, each an array
  of shape ``(n, 5)`` in the same ``[y_min, x_min, y_max, x_max, score]`` order (Hailo's
  ``extract_detections`` examples and Frigate's plugin read this).

Boxes are normalised to the model input (0..1), so they are mapped back through the letterbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spark.core.messages.detection import Detection
from spark.nodes.vision.detectors.letterbox import Letterbox

BBOX_PARAMS = 5


def per_class_arrays(raw: Any, num_classes: int) -> list[np.ndarray]:
    """Either form above -> one ``(n, 5)`` float array per class."""
    if isinstance(raw, list | tuple):
        if len(raw) == 1 and isinstance(raw[0], list | tuple):  # a batch of one
            raw = raw[0]
        return [np.asarray(c, dtype=np.float32).reshape(-1, BBOX_PARAMS) for c in raw]
    flat = np.asarray(raw, dtype=np.float32).ravel()
    if num_classes <= 0 or flat.size % num_classes:
        raise ValueError(f"NMS buffer of {flat.size} floats does not split into "
                         f"{num_classes} classes")
    per_class = flat.size // num_classes
    max_boxes, rest = divmod(per_class - 1, BBOX_PARAMS)
    if rest or max_boxes < 0:
        raise ValueError(f"NMS buffer: {per_class} floats per class is not 1 + 5 x max_bboxes")
    out = []
    for chunk in flat.reshape(num_classes, per_class):
        count = int(chunk[0])
        if not 0 <= count <= max_boxes:
            raise ValueError(f"NMS buffer: class count {count} outside 0..{max_boxes}")
        out.append(chunk[1:1 + count * BBOX_PARAMS].reshape(count, BBOX_PARAMS))
    return out


def parse_nms_by_class(raw: Any, labels: Sequence[str], threshold: float, lb: Letterbox
                       ) -> list[Detection]:
    """Detections scoring at least ``threshold``, boxes in source pixels, best first."""
    found: list[Detection] = []
    for class_id, boxes in enumerate(per_class_arrays(raw, len(labels))):
        if class_id >= len(labels):
            break
        for y_min, x_min, y_max, x_max, score in boxes:
            if score < threshold:
                continue
            box = lb.normalized_to_source(float(y_min), float(x_min), float(y_max), float(x_max))
            if box[2] > box[0] and box[3] > box[1]:
                found.append(Detection(labels[class_id], float(score), box))
    found.sort(key=lambda d: d.score, reverse=True)
    return found
