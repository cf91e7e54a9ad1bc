"""Accuracy and speed of CPU people detectors on a held-out image set built from photos that ship
inside installed packages (no download): precision, recall, count accuracy and frames/s per core.

The set is fixed before any tuning and rebuilt the same way every run (seeded). Frames are
640x480: a background photo with 0-3 people pasted at heights from 60 to 480 px (ground truth:
how many). People and backgrounds are split by *source photo* between ``dev`` (for tuning) and
``held-out`` (for the figures); no photo is in both::

    people      dev: astronaut (Eileen Collins), LFW faces 0-49     held-out: cameraman,
                                                                     LFW faces 50-99
    background  dev: coffee, brick, grass, rocket, moon, text       held-out: chelsea, gravel,
                                                                     hubble, coins, page, clock

(all from ``skimage.data``; the LFW faces are its ``lfw_subset``, 25x25 px, so the pasted faces
are blurry). Per frame: a hit is "a person found" when there is one, a false alarm "a person
found" when there is none; count accuracy is the share of frames with people whose count is
exactly right. Frames/s are frames per CPU second of this process (one OpenCV thread): what one
core delivers, whatever else runs on the machine.

    python -m bench.vision_accuracy                # the held-out figures, built-in detector
    python -m bench.vision_accuracy --split dev    # for tuning
    python -m bench.vision_accuracy --json out.json
    python -m bench vision_accuracy --detector builtin-before --detector builtin   # before/after
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

SIZE = (640, 480)
FRAMES = 64  # per split, half with people
HEIGHTS = (60, 90, 120, 180, 240, 320, 400, 480)
SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "dev": {"people": ("astronaut", "lfw:0"),
            "backgrounds": ("coffee", "brick", "grass", "rocket", "moon", "text")},
    "held-out": {"people": ("camera", "lfw:50"),
                 "backgrounds": ("chelsea", "gravel", "hubble_deep_field", "coins", "page",
                                 "clock")},
}
# person crops (y0, y1, x0, x1) of the photos that have people
CROPS = {"astronaut": (0, 512, 40, 470), "camera": (40, 512, 80, 320)}


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2BGR)


def _cover(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    s = max(SIZE[0] / w, SIZE[1] / h)
    scaled = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    y, x = (scaled.shape[0] - SIZE[1]) // 2, (scaled.shape[1] - SIZE[0]) // 2
    return scaled[y:y + SIZE[1], x:x + SIZE[0]]


def _people(names: Sequence[str]) -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in names:
        if name.startswith("lfw:"):
            first = int(name.split(":")[1])
            faces = np.load(f"{data.__path__[0]}/lfw_subset.npy")[first:first + 50]
            out += [_bgr(face) for face in faces]
        else:
            y0, y1, x0, x1 = CROPS[name]
            out.append(_bgr(getattr(data, name)())[y0:y1, x0:x1])
    return out


@dataclass(frozen=True, slots=True)
class Frame:
    image: np.ndarray
    people: int


def build(split: str, frames: int = FRAMES, seed: int = 13) -> list[Frame]:
    """The split's frames: the first half with 1-3 people, the second half without."""
    from skimage import data

    rng = np.random.default_rng(seed)
    people = _people(SPLITS[split]["people"])
    backgrounds = [_cover(_bgr(getattr(data, n)())) for n in SPLITS[split]["backgrounds"]]
    out = []
    for i in range(frames):
        canvas = backgrounds[i % len(backgrounds)].copy()
        count = 0 if i >= frames // 2 else int(rng.integers(1, 4))
        x = int(rng.integers(0, 40))
        for _ in range(count):
            crop = people[int(rng.integers(len(people)))]
            face = crop.shape[0] < 64  # an LFW face: a close person, at 60-160 px
            height = int(rng.integers(60, 161)) if face else int(rng.choice(HEIGHTS))
            width = max(8, round(crop.shape[1] * height / crop.shape[0]))
            if x + width > SIZE[0]:
                x = max(0, SIZE[0] - width)
            y = int(rng.integers(0, SIZE[1] - height + 1))
            interp = cv2.INTER_AREA if height < crop.shape[0] else cv2.INTER_CUBIC
            canvas[y:y + height, x:x + width] = cv2.resize(crop, (width, height),
                                                           interpolation=interp)
            x += width + int(rng.integers(10, 60))
        out.append(Frame(canvas, count))
    return out


@dataclass
class Score:
    detector: str
    split: str
    frames: int
    precision: float
    recall: float
    count_accuracy: float
    fps_per_core: float
    tp: int
    fp: int
    fn: int
    counted_right: int


def evaluate(name: str, detect: Callable[[np.ndarray], int], frames: list[Frame], split: str
             ) -> Score:
    detect(frames[0].image)  # warm-up: buffers allocated on first use
    tp = fp = fn = right = 0
    cpu0 = time.process_time()
    for frame in frames:
        n = detect(frame.image)
        if frame.people:
            tp += n > 0
            fn += n == 0
            right += n == frame.people
        else:
            fp += n > 0
    cpu = time.process_time() - cpu0
    with_people = sum(1 for f in frames if f.people)
    return Score(name, split, len(frames), tp / (tp + fp) if tp + fp else 0.0,
                 tp / with_people if with_people else 0.0,
                 right / with_people if with_people else 0.0,
                 len(frames) / cpu if cpu > 0 else 0.0, tp, fp, fn, right)


def builtin_detector(threshold: float, **builtin: Any) -> Callable[[np.ndarray], int]:
    from spark.nodes.vision.detectors.cpu import CpuDetector, CpuDetectorConfig

    builtin = {k: v for k, v in builtin.items() if v is not None}
    det = CpuDetector(CpuDetectorConfig.model_validate({"threads": 1, "builtin": builtin}))
    det.open()
    return lambda image: len(det.detect(image, threshold))


def mediapipe_detector(threshold: float, **_builtin: Any) -> Callable[[np.ndarray], int]:
    """MediaPipe's BlazeFace full-range model, which ships inside the mediapipe wheel
    (``mediapipe/modules/face_detection``, legacy ``solutions`` API, mediapipe < 0.10.15):
    the only people-related detector found inside a PyPI wheel. Faces only, like our cascade."""
    import mediapipe as mp  # type: ignore[import-not-found]

    faces = mp.solutions.face_detection.FaceDetection(model_selection=1,
                                                      min_detection_confidence=threshold)

    def detect(image: np.ndarray) -> int:
        found = faces.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).detections
        return len(found or [])

    return detect


# The built-in detector as issue 13 found it: the parent of b955068, the first vision fix
# (face boxes merged before clipping, bodies and faces merged together).
BEFORE = "e4c6e11"


def builtin_before_detector(threshold: float, **_builtin: Any) -> Callable[[np.ndarray], int]:
    """``nodes/vision/detectors/builtin.py`` at ``BEFORE``, read from git, with its defaults
    (the "before" figures; its imports renamed to the installed ``spark.nodes``)."""
    import subprocess
    import sys
    import types
    from pathlib import Path

    source = subprocess.run(["git", "show", f"{BEFORE}:nodes/vision/detectors/builtin.py"],
                            capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1]).stdout
    module = types.ModuleType(f"builtin_{BEFORE}")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source.replace("from nodes.vision.", "from spark.nodes.vision."),
                 f"builtin.py@{BEFORE}", "exec"), module.__dict__)
    people = module.PeopleDetector(module.BuiltinParams())
    return lambda image: len(people.detect(image, threshold))


DETECTORS: dict[str, Callable[..., Callable[[np.ndarray], int]]] = {
    "builtin": builtin_detector, "builtin-before": builtin_before_detector,
    "mediapipe-face": mediapipe_detector}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=sorted(SPLITS), default="held-out")
    p.add_argument("--detector", choices=sorted(DETECTORS), action="append")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--width", type=int, help="the built-in detector's working width")
    p.add_argument("--save", metavar="DIR", help="write the split's frames as JPEGs here")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    frames = build(args.split)
    if args.save:
        for i, frame in enumerate(frames):
            cv2.imwrite(f"{args.save}/{i:02d}_{frame.people}.jpg", frame.image)
    print(f"{args.split}: {len(frames)} frames of {SIZE[0]}x{SIZE[1]}, "
          f"{sum(1 for f in frames if f.people)} with people "
          f"({sum(f.people for f in frames)} people); OpenCV {cv2.__version__}, 1 thread")
    print(f"{'detector':<16} {'precision':>9} {'recall':>6} {'count ok':>8} {'fps/core':>8}")
    scores = []
    for name in args.detector or ["builtin"]:
        try:
            detect = DETECTORS[name](args.threshold, width=args.width)
        except ImportError as exc:
            print(f"{name:<16} not installed: {exc}")
            continue
        s = evaluate(name, detect, frames, args.split)
        scores.append(s)
        print(f"{name:<16} {s.precision:>9.2f} {s.recall:>6.2f} {s.count_accuracy:>8.2f} "
              f"{s.fps_per_core:>8.1f}   (hits {s.tp}, false alarms {s.fp}, misses {s.fn}, "
              f"counted right {s.counted_right})")
    if args.json:
        with open(args.json, "w") as out:
            json.dump([asdict(s) for s in scores], out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
