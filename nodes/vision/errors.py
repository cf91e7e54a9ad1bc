"""The vision node's exceptions: one base, one per failing party."""

from __future__ import annotations

from typing import Any


class VisionError(Exception):
    """Base of every vision-node error."""


class SourceError(VisionError):
    """A frame source cannot open or read (camera gone, stream down, folder empty)."""


class DetectorUnavailable(VisionError):
    """A detector cannot be used on this machine; the message is the reason people read
    (e.g. ``driver 4.17.0 vs library 4.18.0``)."""


class DetectorError(VisionError):
    """A detector that opened failed on one frame."""


MISSING_OPENCV = "OpenCV is not installed: pip install 'prime-spark[vision]'"


def require_cv2(error: type[VisionError]) -> Any:
    """Import OpenCV, or raise ``error`` naming the extra to install."""
    try:
        import cv2
    except ImportError as exc:
        raise error(MISSING_OPENCV) from exc
    return cv2
