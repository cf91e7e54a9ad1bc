"""Speech-to-text backends: the registry keyed by each config's ``type`` literal.

Adding one: write ``stt/<name>.py`` with a :class:`SpeechToText` subclass and its config model,
then add both below. Libraries (pocketsphinx, vosk, faster_whisper) load in ``open()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.voice.stt.base import SpeechToText, StageConfig, Transcript
from spark.nodes.voice.stt.moonshine import MoonshineSttConfig
from spark.nodes.voice.stt.moonshine_proc import MoonshineStt
from spark.nodes.voice.stt.sphinx import PocketsphinxStt, PocketsphinxSttConfig
from spark.nodes.voice.stt.vosk import VoskStt, VoskSttConfig
from spark.nodes.voice.stt.whisper import FasterWhisperStt, FasterWhisperSttConfig
from spark.nodes.voice.stt.wyoming import WyomingStt, WyomingSttConfig

SttConfig = Annotated[
    PocketsphinxSttConfig | VoskSttConfig | FasterWhisperSttConfig | WyomingSttConfig
    | MoonshineSttConfig,
    Field(discriminator="type")
]

BACKENDS: TypeRegistry[type[SpeechToText]] = TypeRegistry("stt backend", {
    "pocketsphinx": PocketsphinxStt,
    "vosk": VoskStt,
    "faster-whisper": FasterWhisperStt,
    "wyoming": WyomingStt,
    "moonshine": MoonshineStt,
})


def make_stt(config: SttConfig, wake_phrases: Sequence[str] = ()) -> SpeechToText:
    return BACKENDS.get(config.type)(config, wake_phrases)


__all__ = ["BACKENDS", "SpeechToText", "StageConfig", "SttConfig", "Transcript", "make_stt"]
