"""The wake word backend interface: :class:`WakeWord` and what it reports, :class:`WakeHit`.

Streaming backends see every frame (:meth:`WakeWord.feed`); segment backends see the frames of
each stretch of speech between :meth:`begin` and :meth:`end`. A :class:`WakeHit` carries the
audio heard after the phrase, so "hey spark turn on the lamp" in one breath works.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from spark.nodes.voice.vocab import Vocabulary


@dataclass(frozen=True, slots=True)
class WakeHit:
    phrase: str
    after: bytes = b""  # audio after the phrase that was already heard
    offset: int = 0  # segment backends: bytes into the stretch of speech where the phrase ended
    complete: bool = False  # the stretch of speech ended: ``after`` is a whole utterance


class WakeWord(ABC):
    type: ClassVar[str]
    streaming: ClassVar[bool] = True

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def phrases(self) -> list[str]:
        return []

    def open(self) -> None:  # noqa: B027 - optional hook
        pass

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` acquired."""

    def set_vocabulary(self, vocab: Vocabulary) -> None:  # noqa: B027 - optional hook
        pass

    def begin(self) -> None:  # noqa: B027 - segment backends only
        pass

    @abstractmethod
    def feed(self, frame: bytes) -> WakeHit | None: ...

    def end(self) -> WakeHit | None:
        return None

    def settled(self) -> WakeHit | None:
        """Segment backends, mid-speech: the wake phrase once it is certain (then ``after``
        is the audio heard after it, and the rest of the stretch is the command's)."""
        return None
