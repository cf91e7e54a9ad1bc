"""Frame sources: the registry keyed by each config's ``type`` literal.

Adding a source: write ``sources/<name>.py`` with a :class:`FrameSource` subclass and its config
model (``type: Literal["<name>"]``), then add both below.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.vision.sources.base import FrameSource
from spark.nodes.vision.sources.files import SAMPLES, FilesSource, FilesSourceConfig
from spark.nodes.vision.sources.opencv import OpenCVSource, OpenCVSourceConfig
from spark.nodes.vision.sources.picamera2 import Picamera2Source, Picamera2SourceConfig

SourceConfig = Annotated[
    FilesSourceConfig | OpenCVSourceConfig | Picamera2SourceConfig, Field(discriminator="type")
]

SOURCES: TypeRegistry[type[FrameSource]] = TypeRegistry("frame source", {
    "files": FilesSource,
    "opencv": OpenCVSource,
    "picamera2": Picamera2Source,
})


def make_source(config: SourceConfig) -> FrameSource:
    return SOURCES.get(config.type)(config)


__all__ = ["SAMPLES", "SOURCES", "FilesSourceConfig", "FrameSource", "SourceConfig",
           "make_source"]
