"""Voice sources: the registry keyed by each config's ``type`` literal."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.voice.sources.base import (
    AudioFrame,
    SourceItem,
    SourceMark,
    TypedText,
    VoiceSource,
)
from spark.nodes.voice.sources.console import ConsoleSource, ConsoleSourceConfig
from spark.nodes.voice.sources.mic import PyAudioSource, PyAudioSourceConfig
from spark.nodes.voice.sources.wav import WavSource, WavSourceConfig

SourceConfig = Annotated[
    PyAudioSourceConfig | WavSourceConfig | ConsoleSourceConfig, Field(discriminator="type")
]

SOURCES: TypeRegistry[type[VoiceSource]] = TypeRegistry("voice source", {
    "pyaudio": PyAudioSource, "wav": WavSource, "console": ConsoleSource,
})


def make_source(config: Any) -> VoiceSource:
    return SOURCES.get(config.type)(config)


__all__ = ["SOURCES", "AudioFrame", "SourceConfig", "SourceItem", "SourceMark", "TypedText",
           "VoiceSource", "make_source"]
