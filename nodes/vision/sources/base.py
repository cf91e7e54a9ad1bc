"""The frame-source interface: a small ABC whose ``read`` returns one BGR frame.

Calls block (camera drivers, file decoding): the node runs them in worker threads. Each source
module holds its class and its config model (``type`` literal); ``sources/__init__.py`` maps the
``type`` to the class. OpenCV / picamera2 are imported when a source opens, never at import time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import numpy as np


class SourceConfigBase(BaseModel):
    """Strict and immutable like ``core.config.base.StrictModel`` (same settings), declared here so
    that importing a source does not pull in the hub's config package."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class FrameSource(ABC):
    """``open`` before the first ``read``, ``close`` at the end (both idempotent). ``read`` returns
    an ``HxWx3`` uint8 BGR frame, or None when the input has ended; errors are
    :class:`~nodes.vision.errors.SourceError`."""

    type: ClassVar[str]

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def name(self) -> str:
        """Short description for the camera's diagnostic attributes."""
        return self.type

    def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire the camera / stream / file list."""

    @abstractmethod
    def read(self) -> np.ndarray | None:
        """The next frame (None: end of input)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` acquired."""
