"""faster-whisper speech-to-text (free-form; the intent parser does the rest).

Optional: ``pip install faster-whisper`` and a converted model at ``model_path`` (nothing is
downloaded). Whisper takes seconds per command on a Pi, hence not the default; the registry's
names are passed as the initial prompt so it spells them our way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.stt.base import SpeechToText, StageConfig, Transcript, elapsed_ms


class FasterWhisperSttConfig(StageConfig):
    type: Literal["faster-whisper"] = "faster-whisper"
    model_path: Path = Field(description="CTranslate2 Whisper model directory.")
    compute_type: str = Field("int8", description="int8 on CPUs; float16 on GPUs.")
    beam_size: int = Field(1, ge=1, le=10)


class FasterWhisperStt(SpeechToText):
    type = "faster-whisper"

    def __init__(self, config: FasterWhisperSttConfig, wake_phrases: Sequence[str] = ()) -> None:
        super().__init__(config, wake_phrases)
        self.cfg = config
        self._model: Any = None
        self._audio: list[bytes] = []

    def open(self) -> None:
        if self._model is not None:
            return
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise BackendUnavailable("faster-whisper is not installed") from exc
        if not self.cfg.model_path.is_dir():
            raise BackendUnavailable(f"no Whisper model at {self.cfg.model_path}")
        self._model = WhisperModel(str(self.cfg.model_path), compute_type=self.cfg.compute_type)

    def start(self) -> None:
        self.open()
        self._audio = []

    def feed(self, pcm: bytes) -> None:
        self._audio.append(pcm)

    def finish(self) -> Transcript:
        import time

        import numpy as np

        from spark.nodes.voice.vocab import normalize

        t0 = time.perf_counter()
        samples = np.frombuffer(b"".join(self._audio), np.int16).astype(np.float32) / 32768.0
        prompt = ", ".join(t.spoken for t in self.vocabulary.targets[:50])
        segments, _info = self._model.transcribe(samples, language="en",
                                                 beam_size=self.cfg.beam_size,
                                                 initial_prompt=prompt or None)
        text = normalize(" ".join(s.text for s in segments))
        return Transcript(text, text, False, text.startswith("ask spark"), elapsed_ms(t0))
