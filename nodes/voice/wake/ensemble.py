"""``any``: one wake phrase heard by several neural engines at once; the first that fires wakes.

microWakeWord and openWakeWord ship different models of the same phrase ("okay nabu"), trained
apart on other data, and they miss different speakers (microWakeWord espeak-ng's American female
voices, openWakeWord its British male ones), while openWakeWord's score on 11 minutes of
everyday speech and near misses never passed 0.03. On the issue-18 corpus (bench voice_wake,
240 commands, tune split) microWakeWord at 0.6 alone woke on 87.6 % of clean commands, either
engine (0.75 / 0.1, the default) on 92.7 %, with the same false wakes (0.36 a minute); README
"The wake word" has the held-out figures.

Every engine sees every frame (each keeps its own streaming state); after a wake all of them
are deaf for ``refractory_s``, so one phrase wakes once.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.stt.base import StageConfig
from spark.nodes.voice.wake.base import WakeHit, WakeWord
from spark.nodes.voice.wake.neural import (
    MICRO_MODELS,
    OPEN_MODELS,
    MicroWake,
    MicroWakeConfig,
    OpenWakeWord,
    OpenWakeWordConfig,
    PyOpenWake,
    PyOpenWakeConfig,
)

StreamingWakeConfig = Annotated[MicroWakeConfig | PyOpenWakeConfig | OpenWakeWordConfig,
                                Field(discriminator="type")]

_ENGINES: dict[str, type[WakeWord]] = {
    "micro-wakeword": MicroWake, "pyopen-wakeword": PyOpenWake, "openwakeword": OpenWakeWord}


def _bundled_phrase(config: StreamingWakeConfig) -> str | None:
    """The phrase of a bundled model (None for a model file: known once it is loaded)."""
    bundled = MICRO_MODELS if config.type == "micro-wakeword" else (
        OPEN_MODELS if config.type == "pyopen-wakeword" else ())
    return config.model.replace("_", " ") if config.model in bundled else None


def _same(phrase: str) -> str:
    return " ".join(phrase.lower().replace("_", " ").split())


class AnyWakeConfig(StageConfig):
    type: Literal["any"] = "any"
    engines: list[StreamingWakeConfig] = Field(
        min_length=2, max_length=4, description="Streaming neural engines of one phrase "
        "(micro-wakeword, pyopen-wakeword, openwakeword), each with its own threshold; the "
        "first that fires wakes.")
    refractory_s: float = Field(1.0, ge=0, le=10, description="After a wake, every engine is "
                                "ignored this long (one phrase, one wake).")

    @model_validator(mode="after")
    def _one_phrase(self) -> AnyWakeConfig:
        phrases = {_same(p) for p in map(_bundled_phrase, self.engines) if p is not None}
        if len(phrases) > 1:
            raise ValueError(f"wake.engines: the engines listen for different phrases "
                             f"({', '.join(sorted(phrases))}); give them models of one phrase")
        return self


class AnyWake(WakeWord):
    type = "any"

    def __init__(self, config: AnyWakeConfig) -> None:
        super().__init__(config)
        self._engines = [_ENGINES[c.type](c) for c in config.engines]
        self._quiet = 0  # samples left in the refractory time

    @property
    def phrases(self) -> list[str]:
        return self._engines[0].phrases

    def open(self) -> None:
        for engine in self._engines:
            engine.open()
        phrases = {_same(e.phrases[0]) for e in self._engines}
        if len(phrases) > 1:  # model files: their phrases are known once loaded
            raise BackendUnavailable(f"wake.engines: the models listen for different phrases "
                                     f"({', '.join(sorted(phrases))})")

    def close(self) -> None:
        for engine in self._engines:
            engine.close()

    def feed(self, frame: bytes) -> WakeHit | None:
        hits = [engine.feed(frame) for engine in self._engines]  # every engine keeps its state
        if self._quiet > 0:
            self._quiet -= len(frame) // 2
            return None
        hit = next((h for h in hits if h is not None), None)
        if hit is None:
            return None
        self._quiet = round(self.config.refractory_s * 16000)
        return WakeHit(self.phrases[0])
