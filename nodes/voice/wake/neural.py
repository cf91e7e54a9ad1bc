"""The neural wake words: ``micro-wakeword`` (the default, "okay nabu") and ``pyopen-wakeword``
run the models bundled with those wheels (okay nabu, hey jarvis, alexa, hey mycroft; their own
TFLite runtime); ``openwakeword`` runs an openWakeWord model when that package is installed.
Each package is imported in ``open()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.stt.base import StageConfig
from spark.nodes.voice.wake.base import WakeHit, WakeWord


class OpenWakeWordConfig(StageConfig):
    type: Literal["openwakeword"] = "openwakeword"
    model: str = Field(description="openWakeWord model file (.onnx / .tflite).")
    threshold: float = Field(0.5, gt=0, lt=1)


MICRO_MODELS = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")


class MicroWakeConfig(StageConfig):
    type: Literal["micro-wakeword"] = "micro-wakeword"
    model: str = Field("okay_nabu", description="A model bundled with pymicro-wakeword "
                       f"({', '.join(MICRO_MODELS)}) or the path of a microWakeWord model's "
                       ".json (its .tflite beside it).")
    probability_cutoff: float | None = Field(
        None, gt=0, lt=1, description="Detection threshold on the model's averaged "
        "probability; default: the model's own (okay_nabu 0.85). Lower: more detections and "
        "more false wakes.")
    refractory_s: float = Field(1.0, ge=0, le=10, description="After a detection, ignore the "
                                "model this long (one phrase, one wake).")


OPEN_MODELS = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy")


class PyOpenWakeConfig(StageConfig):
    type: Literal["pyopen-wakeword"] = "pyopen-wakeword"
    model: str = Field("okay_nabu", description="A model bundled with pyopen-wakeword "
                       f"({', '.join(OPEN_MODELS)}) or the path of an openWakeWord .tflite.")
    threshold: float = Field(0.5, gt=0, lt=1, description="Detection threshold on the "
                             "model's probability (openWakeWord's default 0.5).")
    refractory_s: float = Field(1.0, ge=0, le=10, description="After a detection, ignore the "
                                "model this long.")



class OpenWakeWord(WakeWord):
    type = "openwakeword"
    CHUNK = 1280  # 80 ms

    def __init__(self, config: OpenWakeWordConfig) -> None:
        super().__init__(config)
        self._model: Any = None
        self._pending = b""

    @property
    def phrases(self) -> list[str]:
        return [Path(self.config.model).stem.replace("_", " ")]

    def open(self) -> None:
        if self._model is not None:
            return
        try:
            from openwakeword.model import Model
        except ImportError as exc:
            raise BackendUnavailable("openwakeword is not installed") from exc
        if not Path(self.config.model).is_file():
            raise BackendUnavailable(f"no openWakeWord model at {self.config.model}")
        self._model = Model(wakeword_models=[self.config.model])

    def feed(self, frame: bytes) -> WakeHit | None:
        self.open()
        import numpy as np

        self._pending += frame
        while len(self._pending) >= 2 * self.CHUNK:
            chunk, self._pending = self._pending[: 2 * self.CHUNK], self._pending[2 * self.CHUNK:]
            scores = self._model.predict(np.frombuffer(chunk, np.int16))
            if max(scores.values(), default=0.0) >= self.config.threshold:
                self._model.reset()
                return WakeHit(self.phrases[0])
        return None


class MicroWake(WakeWord):
    """microWakeWord (pymicro-wakeword: its TFLite runtime and models ship in the wheel): a
    small streaming neural network on 10 ms spectral features, trained on many real and
    synthetic speakers with negative examples, so near misses ("okay Nadia") stay quiet where
    a phonetic spotter fires. Fixed phrases only: one model per phrase."""

    type = "micro-wakeword"

    def __init__(self, config: MicroWakeConfig) -> None:
        super().__init__(config)
        self._model: Any = None
        self._features: Any = None
        self._phrase = config.model.replace("_", " ")
        self._quiet = 0  # samples left in the refractory time

    @property
    def phrases(self) -> list[str]:
        return [self._phrase]

    def open(self) -> None:
        if self._model is not None:
            return
        try:
            from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model
        except ImportError as exc:
            raise BackendUnavailable("pymicro-wakeword is not installed "
                                     "(pip install prime-spark[voice])") from exc
        try:
            if self.config.model in MICRO_MODELS:
                model = MicroWakeWord.from_builtin(Model(self.config.model))
            elif Path(self.config.model).is_file():
                model = MicroWakeWord.from_config(self.config.model)
            else:
                raise BackendUnavailable(
                    f"wake.model: {self.config.model!r} is neither a bundled model "
                    f"({', '.join(MICRO_MODELS)}) nor a microWakeWord .json file")
        except (OSError, ValueError, KeyError) as exc:
            raise BackendUnavailable(f"microWakeWord model {self.config.model}: {exc}") from exc
        if self.config.probability_cutoff is not None:
            model.probability_cutoff = self.config.probability_cutoff
        self._phrase = " ".join(str(model.wake_word).lower().split())
        self._model = model
        self._features = MicroWakeWordFeatures()

    def feed(self, frame: bytes) -> WakeHit | None:
        self.open()
        if self._quiet > 0:
            self._quiet -= len(frame) // 2
            for _ in self._features.process_streaming(frame):  # the front end keeps its state
                pass
            return None
        for features in self._features.process_streaming(frame):
            if self._model.process_streaming(features):
                self._model.reset()
                self._quiet = round(self.config.refractory_s * 16000)
                return WakeHit(self._phrase)
        return None


class PyOpenWake(WakeWord):
    """openWakeWord through pyopen-wakeword (TFLite runtime and models in the wheel): a
    melspectrogram and a shared speech embedding, then a small classifier per phrase."""

    type = "pyopen-wakeword"
    CHUNK = 1280 * 2  # bytes: 80 ms, the feature model's step

    def __init__(self, config: PyOpenWakeConfig) -> None:
        super().__init__(config)
        self._model: Any = None
        self._features: Any = None
        self._pending = b""
        self._quiet = 0

    @property
    def phrases(self) -> list[str]:
        return [Path(self.config.model).stem.replace("_", " ")]

    def open(self) -> None:
        if self._model is not None:
            return
        try:
            from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
        except ImportError as exc:
            raise BackendUnavailable("pyopen-wakeword is not installed "
                                     "(pip install prime-spark[voice])") from exc
        try:
            if self.config.model in OPEN_MODELS:
                model = OpenWakeWord.from_builtin(Model(self.config.model))
            elif Path(self.config.model).is_file():
                model = OpenWakeWord.from_model(self.config.model)
            else:
                raise BackendUnavailable(
                    f"wake.model: {self.config.model!r} is neither a bundled model "
                    f"({', '.join(OPEN_MODELS)}) nor an openWakeWord .tflite file")
            self._features = OpenWakeWordFeatures.from_builtin()
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"openWakeWord model {self.config.model}: {exc}") from exc
        self._model = model

    def feed(self, frame: bytes) -> WakeHit | None:
        self.open()
        self._pending += frame
        hit = False
        while len(self._pending) >= self.CHUNK:
            chunk, self._pending = self._pending[:self.CHUNK], self._pending[self.CHUNK:]
            for embedding in self._features.process_streaming(chunk):
                for probability in self._model.process_streaming(embedding):
                    hit = hit or (self._quiet <= 0 and probability >= self.config.threshold)
            self._quiet -= self.CHUNK // 2
        if not hit:
            return None
        self._model.reset()
        self._quiet = round(self.config.refractory_s * 16000)
        return WakeHit(self.phrases[0])
