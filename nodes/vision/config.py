"""The vision node's config section (``nodes: [{kind: vision, ...}]``).

With no settings the node runs the bundled sample scenes through the built-in CPU detector, so
``spark up`` shows detections on a machine without a camera or an accelerator::

    - kind: vision
      id: vision
      detector: {type: hailo, hef: /usr/share/hailo-models/yolov8s_h8.hef}
      fallback: {type: cpu}                  # used (and reported) when the Hailo is unusable
      labels: [person, car]
      cameras:
        - id: door
          source: {type: opencv, device: "rtsp://cam.lan:554/stream1"}
          fps: 5
          zones:
            - {id: porch, polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from spark.core.agent.config import NodeConfigBase
from spark.core.config.base import StrictModel
from spark.core.topics import SEGMENT_RE
from spark.nodes.vision.detectors import DetectorConfig
from spark.nodes.vision.detectors.cpu import CpuDetectorConfig
from spark.nodes.vision.sources import FilesSourceConfig, SourceConfig

_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """A label as it appears in entity keys: ``traffic light`` -> ``traffic_light``."""
    return _SLUG.sub("_", text.lower()).strip("_") or "object"


class ZoneConfig(StrictModel):
    id: str = Field(description="Zone id used in entity keys (letters, digits, _ -).")
    name: str | None = Field(None, description="Shown in Home Assistant; default from the id.")
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="Corners [x, y] as fractions of the frame (0..1, origin top "
        "left). An object is in the zone when the bottom centre of its box is.")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SEGMENT_RE.match(v):
            raise ValueError("use only letters, digits, '_' and '-'")
        return v

    @field_validator("polygon")
    @classmethod
    def _relative(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if any(not (0 <= x <= 1 and 0 <= y <= 1) for x, y in v):
            raise ValueError("polygon corners are fractions of the frame: 0 <= x, y <= 1")
        return v


class CameraConfig(StrictModel):
    id: str = Field(description="Camera id used in entity keys (letters, digits, _ -).")
    name: str | None = Field(None, description="Shown in Home Assistant; default from the id.")
    source: SourceConfig = Field(
        default_factory=lambda: FilesSourceConfig(repeat=3), description="picamera2, opencv "
        "(USB index / RTSP URL) or files; default: the bundled sample scenes, each held for 3 "
        "frames (the default confirm_frames).")
    fps: float = Field(2.0, gt=0, le=120, description="Frames per second taken from the "
                       "source and offered to the detector (a slower detector drops frames).")
    zones: list[ZoneConfig] = Field(default_factory=list, description="Areas with their own "
                                    "counts and occupancy.")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SEGMENT_RE.match(v):
            raise ValueError("use only letters, digits, '_' and '-'")
        return v

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        ids = [z.id for z in self.zones]
        if len(ids) != len(set(ids)):
            raise ValueError(f"camera {self.id!r}: zone ids must be unique")
        return self

    def display_name(self) -> str:
        return self.name or self.id.replace("_", " ").replace("-", " ").title()


class VisionNodeConfig(NodeConfigBase):
    kind: Literal["vision"] = "vision"
    state_interval: float = Field(5.0, gt=0, description="Seconds between the diagnostic "
                                  "updates (latency, fps, dropped frames).")
    detector: DetectorConfig = Field(default_factory=lambda: CpuDetectorConfig(),
                                     description="hailo (Hailo-8 via HailoRT) or cpu.")
    fallback: DetectorConfig | None = Field(
        default_factory=lambda: CpuDetectorConfig(), description="Detector used when the "
        "configured one is unusable (the health entity says why); None: no detection then.")
    cameras: list[CameraConfig] = Field(
        default_factory=lambda: [CameraConfig(id="demo", name="Demo", fps=1.0)],
        min_length=1, description="Default: the bundled sample scenes at 1 frame/s.")
    labels: list[str] = Field(default_factory=lambda: ["person"], min_length=1,
                              description="Labels with count, occupancy and event entities.")
    threshold: float = Field(0.5, ge=0.05, le=0.95, description="Confidence a detection needs "
                             "at start (the number entity changes it at run time).")
    detect: bool = Field(True, description="Detect at start (the switch changes it).")
    confirm_frames: int = Field(3, ge=1, le=100, description="Frames an object (same label, "
                                "overlapping box) must be seen in before it counts for counts, "
                                "occupancy, events and snapshots: one-frame false positives "
                                "never count. At 2 frames/s, 3 frames is about 1 s.")
    min_area: float = Field(0.005, ge=0, lt=1, description="Least box area, as a fraction of "
                            "the frame, of an object that counts (0.005: 40x40 px at 640x480).")
    off_delay: float = Field(30.0, ge=0, description="Seconds without a detection before "
                             "occupancy turns off.")
    snapshot_interval: float = Field(10.0, ge=0, description="Least seconds between two "
                                     "automatic snapshots of one camera (on detection).")
    jpeg_quality: int = Field(80, ge=30, le=100, description="Snapshot JPEG quality.")
    records: Literal["all", "detections", "off"] = Field(
        "detections", description="ai_inference_results records on <base>/<node>/inference: "
        "every inference, only those with detections or changed counts, or none.")
    max_errors: int = Field(5, ge=1, description="Consecutive failed inferences after which "
                            "the detector is reopened (and the fallback used if need be).")

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        slugs = [slug(label) for label in v]
        if len(slugs) != len(set(slugs)):
            raise ValueError("labels must differ after slugging (e.g. 'tv' and 'TV' collide)")
        return v

    @model_validator(mode="after")
    def _unique_cameras(self) -> VisionNodeConfig:
        ids = [c.id for c in self.cameras]
        if len(ids) != len(set(ids)):
            raise ValueError("camera ids must be unique")
        return self
