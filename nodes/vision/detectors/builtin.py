"""The built-in people detector: needs no download, only what ships inside OpenCV.

* HOG + linear SVM pedestrian detector (``cv2.HOGDescriptor_getDefaultPeopleDetector``, Dalal &
  Triggs): whole standing people, about 1/4 of the frame height or taller at the working width;
* a Haar cascade from ``cv2.data.haarcascades`` (frontal face by default): people close to the
  camera, whose body the frame cuts off. A face box is widened to an estimated person box.

Frames are shrunk to ``width`` first (the speed knob: 320 px handles 640x480 at well over 10
frames/s on one core). Scores are the classifiers' margins squashed to 0..1 with a logistic
(``0.5`` at the classifier's own decision boundary), so the node's threshold applies to them like
to a neural detector's confidences; they are not calibrated probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nodes.vision.detectors.base import Detection, clip_box
from nodes.vision.errors import DetectorUnavailable

LABEL = "person"
FBox = tuple[float, float, float, float]
Scored = tuple[FBox, float]


@dataclass(frozen=True, slots=True)
class BuiltinParams:
    width: int = 320
    hog: bool = True
    hog_win_stride: int = 8
    hog_scale: float = 1.1
    cascade: str | None = "haarcascade_frontalface_default.xml"
    cascade_scale: float = 1.2
    cascade_min_neighbors: int = 4
    cascade_min_size: int = 30
    nms_iou: float = 0.3


def _logistic(margin: float, centre: float, spread: float) -> float:
    return 1.0 / (1.0 + math.exp(-(margin - centre) / spread))


class PeopleDetector:
    def __init__(self, params: BuiltinParams) -> None:
        self.params = params
        self._hog: cv2.HOGDescriptor | None = None
        self._cascade: cv2.CascadeClassifier | None = None
        if params.hog:
            if not hasattr(cv2, "HOGDescriptor"):
                raise DetectorUnavailable(f"OpenCV {cv2.__version__} has no HOG people detector "
                                          "(OpenCV 5 moved it out): install opencv<5")
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        if params.cascade:
            path = Path(params.cascade)
            data = getattr(cv2, "data", None)
            if not path.is_absolute() and data is not None:
                path = Path(data.haarcascades) / path
            if not hasattr(cv2, "CascadeClassifier"):
                raise DetectorUnavailable(f"OpenCV {cv2.__version__} has no Haar cascades "
                                          "(OpenCV 5 moved them out): install opencv<5")
            cascade = cv2.CascadeClassifier(str(path))
            if cascade.empty():
                raise DetectorUnavailable(f"cannot load the Haar cascade {path}")
            self._cascade = cascade

    @property
    def model_name(self) -> str:
        parts = ["hog"] if self._hog is not None else []
        if self._cascade is not None and self.params.cascade:
            parts.append(Path(self.params.cascade).stem.removeprefix("haarcascade_"))
        return "opencv-" + "+".join(parts or ["none"])

    def detect(self, frame: np.ndarray, threshold: float) -> list[Detection]:
        h, w = frame.shape[:2]
        f = min(1.0, self.params.width / w)
        small = frame if f == 1.0 else cv2.resize(frame, (round(w * f), round(h * f)),
                                                  interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        bodies: list[Scored] = []
        faces: list[tuple[Scored, FBox]] = []  # estimated person box, the face itself
        if self._hog is not None:
            stride = (self.params.hog_win_stride, self.params.hog_win_stride)
            rects, weights = self._hog.detectMultiScale(small, winStride=stride, padding=(8, 8),
                                                        scale=self.params.hog_scale)
            for (x, y, rw, rh), wt in zip(rects, np.ravel(weights), strict=True):
                score = _logistic(float(wt), 0.0, 0.5)
                if score >= threshold:
                    bodies.append((_clip(x, y, x + rw, y + rh, sw, sh), score))
        if self._cascade is not None:
            gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
            size = self.params.cascade_min_size
            rects, _levels, weights = self._cascade.detectMultiScale3(
                gray, scaleFactor=self.params.cascade_scale,
                minNeighbors=self.params.cascade_min_neighbors, minSize=(size, size),
                outputRejectLevels=True)
            for (x, y, fw, fh), wt in zip(rects, np.ravel(weights), strict=True):
                score = _logistic(float(wt), 1.0, 1.5)
                if score < threshold:
                    continue
                # head and shoulders down: about 3 faces wide, 7 faces tall from the forehead,
                # clipped to the frame *before* merging (an unclipped box reaching past the
                # frame overlaps the same person's body box too little to be merged with it)
                box = _clip(x - fw, y - 0.3 * fh, x + 2 * fw, y + 7 * fh, sw, sh)
                faces.append(((box, score), (x, y, x + fw, y + fh)))
        # a face inside a body box is that body's head, not another person
        found = bodies + [p for p, face in faces
                          if not any(_contains(b, face) for b, _ in bodies)]
        return self._merge(found, f, w, h, threshold)

    def _merge(self, found: list[Scored], f: float, w: int, h: int, threshold: float
               ) -> list[Detection]:
        if not found:
            return []
        xywh = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b, _ in found]
        keep = cv2.dnn.NMSBoxes(xywh, [s for _, s in found], threshold, self.params.nms_iou)
        out = []
        for i in np.asarray(keep, dtype=int).ravel():
            (x0, y0, x1, y1), score = found[i]
            out.append(Detection(LABEL, score, clip_box(x0 / f, y0 / f, x1 / f, y1 / f, w, h)))
        out.sort(key=lambda d: d.score, reverse=True)
        return out


def _clip(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> FBox:
    return (max(0.0, float(x0)), max(0.0, float(y0)), min(float(w), float(x1)),
            min(float(h), float(y1)))


def _contains(outer: FBox, inner: FBox) -> bool:
    """The centre of ``inner`` lies in the upper half of ``outer`` (a head in a body box)."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    return outer[0] <= cx <= outer[2] and outer[1] <= cy <= (outer[1] + outer[3]) / 2
