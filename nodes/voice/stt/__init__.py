"""Speech-to-text backends: the registry keyed by each config's ``type`` literal.

Adding one: write ``stt/<name>.py`` with a :class:`SpeechToText` subclass and its config model,
then add both below. Libraries (pocketsphinx, vosk, faster_whisper) load in ``open()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from spark.nodes.voice.stt.base import SpeechToText, StageConfig, Transcript
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.stt.vosk import VoskStt, VoskSttConfig
from spark.nodes.voice.stt.whisper import FasterWhisperStt, FasterWhisperSttConfig

SttConfig = Annotated[
    PocketsphinxSttConfig | VoskSttConfig | FasterWhisperSttConfig, Field(discriminator="type")
]

BACKENDS: dict[str, type[SpeechToText]] = {
    "pocketsphinx": PocketsphinxStt,
    "vosk": VoskStt,
    "faster-whisper": FasterWhisperStt,
}


def make_stt(config: SttConfig, wake_phrases: Sequence[str] = ()) -> SpeechToText:
    try:
        cls = BACKENDS[config.type]
    except KeyError:
        raise KeyError(f"unknown stt backend {config.type!r}; known: "
                       f"{', '.join(sorted(BACKENDS))}") from None
    return cls(config, wake_phrases)


__all__ = ["BACKENDS", "SpeechToText", "StageConfig", "SttConfig", "Transcript", "make_stt"]
