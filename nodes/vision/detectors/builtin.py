"""The built-in people detector: needs no download, only what ships inside OpenCV.

* HOG + linear SVM pedestrian detector (``cv2.HOGDescriptor_getDefaultPeopleDetector``, Dalal &
  Triggs): whole standing people, upright and seen from the side or front, whose body fits in
  the frame with a margin. Its 64x128 px window (the person about 96 px of it) is scanned at
  sizes from 1 to ``min(frame size) / window`` at the working width, so at the default 320 px a
  person roughly 200 to 380 px tall in a 640x480 frame can match; taller or cut-off people,
  sitting or lying ones do not. (Not measured by ``bench/vision_accuracy.py``: no photo shipped
  in an installed package shows a whole standing person.)
* a Haar cascade from ``cv2.data.haarcascades`` (frontal face by default): people close to the
  camera, whose body the frame cuts off. Faces must be frontal (no profiles, backs of heads or
  masks) and at least ``cascade_min_size`` px at the working width (30 px at 320: 60 px in a
  640x480 frame; 48 px at ``width: 400``). A face box is widened to an estimated person box.

Bodies are merged with bodies and faces with faces, then a face in the upper half of a body box
is dropped as that body's head: one box per person. Frames are shrunk to ``width`` first (the
speed knob). Scores are the classifiers' margins squashed to 0..1 with a logistic (``0.5`` at the
classifier's own decision boundary), so the node's threshold applies to them like to a neural
detector's confidences; they are not calibrated probabilities. Accuracy and speed:
``python -m bench.vision_accuracy`` and ``python -m bench vision``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from spark.core.messages.detection import Detection
from spark.nodes.vision.detectors.base import clip_box
from spark.nodes.vision.errors import DetectorUnavailable

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
            # cv2's stubs type the detector Sequence[float]; it is the ndarray setSVMDetector takes
            self._hog.setSVMDetector(
                cv2.HOGDescriptor.getDefaultPeopleDetector())  # type: ignore[call-overload]
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
        faces: list[Scored] = []
        if self._hog is not None:
            stride = (self.params.hog_win_stride, self.params.hog_win_stride)
            rects, weights = self._hog.detectMultiScale(small, winStride=stride, padding=(8, 8),
                                                        scale=self.params.hog_scale)
            for (x, y, rw, rh), wt in zip(rects, np.ravel(weights), strict=True):
                bodies.append(((x, y, x + rw, y + rh), _logistic(float(wt), 0.0, 0.5)))
        if self._cascade is not None:
            gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
            size = self.params.cascade_min_size
            rects, _levels, weights = self._cascade.detectMultiScale3(
                gray, scaleFactor=self.params.cascade_scale,
                minNeighbors=self.params.cascade_min_neighbors, minSize=(size, size),
                outputRejectLevels=True)
            for (x, y, fw, fh), wt in zip(rects, np.ravel(weights), strict=True):
                faces.append(((x, y, x + fw, y + fh), _logistic(float(wt), 1.0, 1.5)))
        found = merge_people(bodies, faces, threshold, self.params.nms_iou, sw, sh)
        out = [Detection(LABEL, score, clip_box(x0 / f, y0 / f, x1 / f, y1 / f, w, h))
               for (x0, y0, x1, y1), score in found]
        out.sort(key=lambda d: d.score, reverse=True)
        return out


def _nms(found: list[Scored], threshold: float, nms_iou: float) -> list[Scored]:
    found = [(b, s) for b, s in found if s >= threshold]
    if not found:
        return []
    xywh = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b, _ in found]
    keep = cv2.dnn.NMSBoxes(xywh, [s for _, s in found], threshold, nms_iou)
    return [found[i] for i in np.asarray(keep, dtype=int).ravel()]


def merge_people(bodies: list[Scored], faces: list[Scored], threshold: float, nms_iou: float,
                 width: int, height: int) -> list[Scored]:
    """One box per person from body boxes and face boxes (``width`` x ``height`` frame).

    Bodies are merged with bodies and faces with faces (the faces themselves: the person boxes
    estimated from two neighbours' faces overlap though the faces do not); a face in the upper
    half of a body box is that body's head and dropped; every other face becomes a person box,
    clipped to the frame."""
    people = _nms(bodies, threshold, nms_iou)
    found = list(people)
    for (x0, y0, x1, y1), score in _nms(faces, threshold, nms_iou):
        if any(_head_of(body, (x0, y0, x1, y1)) for body, _ in people):
            continue
        fw, fh = x1 - x0, y1 - y0
        # head and shoulders down: about 3 faces wide, 7 faces tall from the forehead
        found.append((_clip(x0 - fw, y0 - 0.3 * fh, x1 + fw, y0 + 7 * fh, width, height),
                      score))
    return found


def _clip(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> FBox:
    return (max(0.0, float(x0)), max(0.0, float(y0)), min(float(w), float(x1)),
            min(float(h), float(y1)))


def _head_of(body: FBox, face: FBox) -> bool:
    """The face's centre lies in the upper half of the body box: that body's head."""
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    return body[0] <= cx <= body[2] and body[1] <= cy <= (body[1] + body[3]) / 2
