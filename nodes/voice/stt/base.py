"""The speech-to-text interface: stream an utterance in, get a :class:`Transcript` out.

Each backend module holds its class and its config model (``type`` literal); ``stt/__init__.py``
maps the ``type`` to the class. Libraries and models load in :meth:`SpeechToText.open`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from spark.nodes.voice.vocab import AnyWord, Lexicon, Vocabulary


class StageConfig(BaseModel):
    """Base of every stage backend's config: strict and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str  # what the recogniser settled on; "" when nothing usable was heard
    heard: str = ""  # a second, freer reading (verification), for diagnostics
    rejected: bool = False  # heard something, but not confidently a command
    free_form: bool = False  # an "ask spark ..." question, ``text`` is the question
    decode_ms: float = 0.0  # time spent after the last audio (finish)
    candidate: str = ""  # the grammar's reading, also when rejected (diagnostics)
    # The free reading's words with their posterior probability (0..1: how sure the free
    # decoder is of each, from its lattice), when the backend has them (confirm.py).
    words: tuple[tuple[str, float], ...] = ()
    # Readings of one part by a differently constrained search ("number": the value heard
    # by a grammar that takes any number), for the gate (confirm.py).
    checks: dict[str, str] = field(default_factory=dict)
    # The reading of a second, independent model (stt/moonshine.py), in words: None without
    # one, "" when it heard nothing.
    second: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "heard": self.heard,
                               "rejected": self.rejected, "free_form": self.free_form,
                               "candidate": self.candidate}
        if self.words:
            out["words"] = [[w, round(p, 3)] for w, p in self.words]
        if self.checks:
            out["checks"] = dict(self.checks)
        if self.second is not None:
            out["second"] = self.second
        return out


class SpeechToText(ABC):
    type: ClassVar[str]

    def __init__(self, config: Any, wake_phrases: Sequence[str] = ()) -> None:
        self.config = config
        self.wake_phrases = list(wake_phrases)
        self.vocabulary = Vocabulary()

    @property
    def name(self) -> str:
        return self.type

    def open(self) -> None:  # noqa: B027 - optional hook
        """Load the library and models (raise BackendUnavailable when impossible)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` loaded."""

    def lexicon(self) -> Lexicon:
        """Which words the recogniser can say (names are spelled with these)."""
        return AnyWord()

    def set_vocabulary(self, vocab: Vocabulary) -> None:
        """Recognise commands about ``vocab`` from the next utterance on."""
        self.vocabulary = vocab

    @abstractmethod
    def start(self) -> None:
        """Begin an utterance."""

    @abstractmethod
    def feed(self, pcm: bytes) -> None:
        """More audio of the utterance (16 kHz mono int16)."""

    @abstractmethod
    def finish(self) -> Transcript:
        """End the utterance and return what was said."""

    def settle(self) -> None:  # noqa: B027 - optional hook
        """Speech paused: the utterance may end here. Work that the end would need can be
        done now, while the end-of-speech detector waits for more silence."""

    def cancel(self) -> None:
        """Drop the utterance being heard (a click, not a command)."""
        self.finish()

    def partial(self) -> str:
        """What the utterance looks like so far ("" when the backend cannot tell)."""
        return ""

    def decode(self, pcm: bytes) -> Transcript:
        self.start()
        self.feed(pcm)
        return self.finish()


def elapsed_ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)
