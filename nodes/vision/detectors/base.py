"""The detector interface: one detection type, one small ABC.

A detector takes a BGR frame and returns :class:`Detection` boxes in the frame's own pixel
coordinates (any letterboxing is undone inside the backend). ``open`` raises
:class:`~nodes.vision.errors.DetectorUnavailable` with a reason people can act on; the selection
in ``detectors/__init__.py`` then falls back and says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from spark.core.messages.detection import Box, Detection

if TYPE_CHECKING:
    import numpy as np


class DetectorConfigBase(BaseModel):
    """Strict and immutable like ``core.config.base.StrictModel`` (same settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def clip_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> Box:
    """Round a float box to pixels inside a ``width`` x ``height`` frame."""
    return (max(0, min(width - 1, round(x0))), max(0, min(height - 1, round(y0))),
            max(0, min(width - 1, round(x1))), max(0, min(height - 1, round(y1))))


class Detector(ABC):
    """``open`` once (may be slow: loads a model, opens a device), ``detect`` per frame from one
    thread at a time, ``close`` at the end (idempotent)."""

    type: ClassVar[str]

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def model_name(self) -> str:
        """What ran, for ``ai_inference_results.model_name`` (e.g. ``yolov8s_h8``)."""
        return self.type

    def info(self) -> dict[str, Any]:
        """Details for the health entity's attributes (versions, device, model path)."""
        return {"model": self.model_name}

    def open(self) -> None:  # noqa: B027 - optional hook
        """Load the model / open the device; raise DetectorUnavailable with the reason."""

    @abstractmethod
    def detect(self, frame: np.ndarray, threshold: float) -> list[Detection]:
        """Objects in ``frame`` scoring at least ``threshold`` (0..1)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` acquired."""
