"""Speech-to-text on a Wyoming server (wyoming-faster-whisper, wyoming-vosk, ...): the
utterance is kept here while it is heard and sent whole at its end (``transcribe``, audio,
``audio-stop`` -> ``transcript``). The connection is supervised in its own thread
(``wyoming.py``): a server that is down makes the utterance's transcript empty, never a hang
past ``timeout_s``."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from spark.nodes.voice.pcm import RATE
from spark.nodes.voice.stt.base import SpeechToText, Transcript, elapsed_ms
from spark.nodes.voice.wyoming import LinkThread, WyomingError, WyomingServerConfig

log = logging.getLogger(__name__)


class WyomingSttConfig(WyomingServerConfig):
    type: Literal["wyoming"] = "wyoming"
    language: str | None = Field(None, max_length=16, description="Language asked for "
                                 "(e.g. en); default: the server's.")
    max_speech_s: float = Field(30.0, gt=1, le=120, description="Audio kept per utterance.")


class WyomingStt(SpeechToText):
    type = "wyoming"

    def __init__(self, config: WyomingSttConfig, wake_phrases: Sequence[str] = ()) -> None:
        super().__init__(config, wake_phrases)
        self.cfg = config
        self._link: LinkThread | None = None
        self._audio: list[bytes] = []
        self._size = 0

    def open(self) -> None:
        if self._link is None:
            self._link = LinkThread(self.cfg)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None

    def start(self) -> None:
        self._audio, self._size = [], 0

    def feed(self, pcm: bytes) -> None:
        if self._size + len(pcm) <= self.cfg.max_speech_s * RATE * 2:
            self._audio.append(pcm)
            self._size += len(pcm)

    def cancel(self) -> None:
        self._audio, self._size = [], 0

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        pcm = b"".join(self._audio)
        self._audio, self._size = [], 0
        self.open()
        assert self._link is not None and self._link.link is not None
        try:
            text = self._link.call(self._link.link.transcribe(pcm, self.cfg.language))
        except WyomingError as exc:
            log.warning("wyoming speech-to-text: %s", exc)
            return Transcript("", rejected=True, decode_ms=elapsed_ms(t0))
        text = " ".join(text.lower().replace(",", " ").replace(".", " ").replace(
            "?", " ").replace("!", " ").split())
        for phrase in self.wake_phrases:  # "hey spark, turn on ..." said in one breath
            if text.startswith(phrase + " "):
                text = text[len(phrase) + 1:]
        return Transcript(text, text, False, False, elapsed_ms(t0), candidate=text)
