"""Detectors: the registry keyed by each config's ``type`` literal, and the selection that falls
back to the CPU and says why.

Adding a detector: write ``detectors/<name>.py`` with a :class:`Detector` subclass and its config
model (``type: Literal["<name>"]``), then add both below. Accelerator libraries are imported when a
detector opens, never here, so every detector's config always validates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from spark.core.messages.detection import Detection
from spark.core.registry import TypeRegistry
from spark.nodes.vision.detectors.base import Detector
from spark.nodes.vision.detectors.cpu import CpuDetector, CpuDetectorConfig
from spark.nodes.vision.detectors.hailo import HailoDetector, HailoDetectorConfig
from spark.nodes.vision.errors import DetectorUnavailable

log = logging.getLogger(__name__)

DetectorConfig = Annotated[HailoDetectorConfig | CpuDetectorConfig, Field(discriminator="type")]

DETECTORS: TypeRegistry[type[Detector]] = TypeRegistry(
    "detector", {"hailo": HailoDetector, "cpu": CpuDetector})


def make_detector(config: DetectorConfig, *, hailo_platform: Any = None) -> Detector:
    """The detector for ``config``; ``hailo_platform`` replaces the HailoRT module (a stand-in
    with the same interface, for machines without the chip)."""
    if isinstance(config, HailoDetectorConfig):
        return HailoDetector(config, platform=hailo_platform)
    return DETECTORS.get(config.type)(config)


@dataclass(slots=True)
class Selection:
    """Which detector runs, which one was asked for, and why they differ."""

    requested: str
    detector: Detector | None = None
    reason: str | None = None  # None: the requested detector runs
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> str:
        return self.detector.type if self.detector is not None else "none"

    @property
    def degraded(self) -> bool:
        return self.reason is not None

    def attributes(self) -> dict[str, Any]:
        info = self.detector.info() if self.detector is not None else {}
        return {"requested": self.requested, "active": self.active, "reason": self.reason,
                **self.details, **info}


def open_detector(config: DetectorConfig, fallback: DetectorConfig | None, *,
                  hailo_platform: Any = None) -> Selection:
    """Open the configured detector; when it is unusable open ``fallback`` and say why."""
    primary = make_detector(config, hailo_platform=hailo_platform)
    try:
        primary.open()
        return Selection(config.type, primary, details=primary.info())
    except DetectorUnavailable as exc:
        reason = f"{config.type} unavailable: {exc}"
        details = primary.info()
        primary.close()
    if fallback is None or fallback == config:
        log.error("%s; no fallback detector configured: detection is off", reason)
        return Selection(config.type, None, f"{reason}, no fallback", details)
    second = make_detector(fallback, hailo_platform=hailo_platform)
    try:
        second.open()
    except DetectorUnavailable as exc:
        second.close()
        log.error("%s; fallback %s unavailable too: %s", reason, fallback.type, exc)
        return Selection(config.type, None, f"{reason}; {fallback.type} unavailable: {exc}",
                         details)
    log.warning("%s, using %s", reason, fallback.type)
    return Selection(config.type, second, f"{reason}, using {fallback.type}", details)


__all__ = ["DETECTORS", "Detection", "Detector", "DetectorConfig", "Selection", "make_detector",
           "open_detector"]
