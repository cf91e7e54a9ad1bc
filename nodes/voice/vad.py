"""Voice activity: a per-frame speech/no-speech decision (webrtcvad, else an adaptive energy
detector) and the :class:`Endpointer` that turns it into speech start / end with timeouts."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from spark.nodes.voice.pcm import FRAME_S, RATE
from spark.nodes.voice.stt.base import StageConfig

log = logging.getLogger(__name__)


class WebRtcVadConfig(StageConfig):
    type: Literal["webrtc"] = "webrtc"
    aggressiveness: int = Field(3, ge=0, le=3, description="0 keeps most audio, 3 least (3 "
                                "measured best in noise, no worse in quiet).")


class EnergyVadConfig(StageConfig):
    type: Literal["energy"] = "energy"
    margin_db: float = Field(12.0, gt=0, description="dB above the tracked noise floor.")
    min_dbfs: float = Field(-55.0, description="Quieter frames are never speech.")


VadConfig = Annotated[WebRtcVadConfig | EnergyVadConfig, Field(discriminator="type")]


class Vad(ABC):
    type: ClassVar[str]

    @abstractmethod
    def is_speech(self, frame: bytes) -> bool:
        """One 30 ms frame of 16 kHz mono int16."""


class EnergyVad(Vad):
    type = "energy"

    def __init__(self, config: EnergyVadConfig) -> None:
        self.cfg = config
        self.floor = -70.0

    def is_speech(self, frame: bytes) -> bool:
        import numpy as np

        from spark.nodes.voice.audio import dbfs

        level = dbfs(np.frombuffer(frame, np.int16))
        speech = level > self.cfg.min_dbfs and level > self.floor + self.cfg.margin_db
        # The floor follows quiet frames quickly and loud ones slowly.
        rate = 0.02 if speech else (0.2 if level < self.floor else 0.05)
        self.floor += rate * (level - self.floor)
        return speech


class WebRtcVad(Vad):
    type = "webrtc"

    def __init__(self, config: WebRtcVadConfig) -> None:
        import webrtcvad  # ImportError -> make_vad falls back to the energy detector

        self._vad = webrtcvad.Vad(config.aggressiveness)

    def is_speech(self, frame: bytes) -> bool:
        return bool(self._vad.is_speech(frame, RATE))


def make_vad(config: Any) -> Vad:
    if isinstance(config, WebRtcVadConfig):
        try:
            return WebRtcVad(config)
        except ImportError:
            log.warning("webrtcvad is not installed; using the energy voice detector")
            return EnergyVad(EnergyVadConfig())
    return EnergyVad(config)


class Endpointer:
    """Speech starts after ``start_s`` of speech frames in a row and ends after
    ``end_silence_s`` of non-speech frames in a row (or ``max_speech_s``)."""

    def __init__(self, vad: Vad, start_s: float = 0.09, end_silence_s: float = 0.45,
                 max_speech_s: float = 10.0) -> None:
        self.vad = vad
        self.start_frames = max(1, round(start_s / FRAME_S))
        self.end_frames = max(1, round(end_silence_s / FRAME_S))
        self.max_frames = round(max_speech_s / FRAME_S)
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.run = 0  # consecutive frames of the opposite kind
        self.length = 0  # frames since speech started

    def update(self, frame: bytes) -> Literal["start", "end"] | None:
        speech = self.vad.is_speech(frame)
        if not self.in_speech:
            self.run = self.run + 1 if speech else 0
            if self.run >= self.start_frames:
                self.in_speech, self.run, self.length = True, 0, self.run
                return "start"
            return None
        self.length += 1
        self.run = 0 if speech else self.run + 1
        if self.run >= self.end_frames or self.length >= self.max_frames:
            self.in_speech, self.run = False, 0
            return "end"
        return None
