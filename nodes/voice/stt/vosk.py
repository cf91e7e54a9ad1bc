"""Vosk (Kaldi) speech-to-text with a model directory, restricted to the registry's phrases.

Optional: ``pip install vosk`` and a model unpacked at ``model_path`` (nothing is downloaded).
Vosk takes a phrase list as its grammar (plus ``[unk]`` for anything else), so the same intent
parser applies; "ask spark ..." uses the model's full vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.grammar import sentences
from spark.nodes.voice.pcm import RATE
from spark.nodes.voice.stt.base import SpeechToText, StageConfig, Transcript, elapsed_ms
from spark.nodes.voice.vocab import Vocabulary


class VoskSttConfig(StageConfig):
    type: Literal["vosk"] = "vosk"
    model_path: Path = Field(description="Unpacked Vosk model directory.")
    grammar: bool = Field(True, description="Restrict recognition to the registry's phrases.")


class VoskStt(SpeechToText):
    type = "vosk"

    def __init__(self, config: VoskSttConfig, wake_phrases: Sequence[str] = ()) -> None:
        super().__init__(config, wake_phrases)
        self.cfg = config
        self._model: Any = None
        self._rec: Any = None
        self._phrases: list[str] = []

    def open(self) -> None:
        if self._model is not None:
            return
        try:
            import vosk
        except ImportError as exc:
            raise BackendUnavailable("vosk is not installed (pip install vosk)") from exc
        if not self.cfg.model_path.is_dir():
            raise BackendUnavailable(f"no Vosk model at {self.cfg.model_path}")
        vosk.SetLogLevel(-1)
        self._model = vosk.Model(str(self.cfg.model_path))

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        super().set_vocabulary(vocab)
        self._phrases = sorted(set(sentences(vocab, self.wake_phrases)))

    def start(self) -> None:
        import vosk

        self.open()
        if self.cfg.grammar and self._phrases:
            grammar = json.dumps([*self._phrases, "ask spark", "[unk]"])
            self._rec = vosk.KaldiRecognizer(self._model, RATE, grammar)
        else:
            self._rec = vosk.KaldiRecognizer(self._model, RATE)

    def feed(self, pcm: bytes) -> None:
        self._rec.AcceptWaveform(pcm)

    def finish(self) -> Transcript:
        import time

        t0 = time.perf_counter()
        text = str(json.loads(self._rec.FinalResult()).get("text", "")).replace("[unk]", "")
        text = " ".join(text.split())
        return Transcript(text, text, False, text.startswith("ask spark"), elapsed_ms(t0))
