"""Object persistence, as Frigate's tracking does it: a detection counts only once the same
object (same label, overlapping box) was seen in ``confirm_frames`` frames, and only when its box
covers at least ``min_area`` of the frame. One-frame false positives (a face on a coin, a door
frame that looks like a pedestrian for one frame) then never turn occupancy on, fire an event or
publish a snapshot. Free of I/O; one :class:`Tracker` per camera."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spark.core.messages.detection import Box, Detection

MATCH_IOU = 0.3  # boxes of one object in consecutive frames overlap at least this much
MAX_MISSES = 2  # frames a track survives unseen (a flicker does not restart the count)


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def big_enough(found: Sequence[Detection], min_area: float, width: int, height: int
               ) -> list[Detection]:
    """Detections whose box covers at least ``min_area`` (a fraction) of the frame."""
    least = min_area * width * height
    return [d for d in found if (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) >= least]


@dataclass(slots=True)
class Track:
    label: str
    box: Box
    hits: int = 1
    misses: int = 0


class Tracker:
    """Matches each frame's detections to the tracks of the frames before (greedy, by overlap,
    per label) and returns the detections of confirmed tracks."""

    def __init__(self, confirm_frames: int, max_misses: int = MAX_MISSES,
                 match_iou: float = MATCH_IOU) -> None:
        self.confirm_frames = confirm_frames
        self.max_misses = max_misses
        self.match_iou = match_iou
        self.tracks: list[Track] = []

    def update(self, found: Sequence[Detection]) -> list[Detection]:
        pairs = sorted(((iou(t.box, d.box), ti, di) for ti, t in enumerate(self.tracks)
                        for di, d in enumerate(found) if t.label == d.label),
                       reverse=True)
        track_of: dict[int, int] = {}  # detection index -> track index
        used: set[int] = set()
        for overlap, ti, di in pairs:
            if overlap < self.match_iou:
                break
            if ti in used or di in track_of:
                continue
            used.add(ti)
            track_of[di] = ti
        for ti, track in enumerate(self.tracks):
            if ti not in used:
                track.misses += 1
        confirmed: list[Detection] = []
        new: list[Track] = []
        for di, det in enumerate(found):
            matched = track_of.get(di)
            if matched is None:
                new.append(track := Track(det.label, det.box))
            else:
                track = self.tracks[matched]
                track.box, track.hits, track.misses = det.box, track.hits + 1, 0
            if track.hits >= self.confirm_frames:
                confirmed.append(det)
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses] + new
        return confirmed

    def clear(self) -> None:
        self.tracks.clear()
