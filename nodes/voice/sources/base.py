"""Where the pipeline's input comes from: audio frames, or typed lines that skip speech
recognition. Each source module holds its class and its config model (``type`` literal)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class AudioFrame:
    pcm: bytes  # one 30 ms frame, 16 kHz mono int16
    live: bool = True  # False: replayed faster than real time (WAV files)
    at: float = field(default_factory=time.monotonic)  # when its audio ended (time.monotonic)


@dataclass(frozen=True, slots=True)
class TypedText:
    text: str


@dataclass(frozen=True, slots=True)
class SourceMark:
    """A replay finished a file (tests and benchmarks wait on these)."""

    name: str
    started: float | None = None  # real-time replay: when its audio began (time.monotonic)


SourceItem = AudioFrame | TypedText | SourceMark


class VoiceSource(ABC):
    type: ClassVar[str]

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.type

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire the device or file (raise BackendUnavailable when impossible)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` acquired."""

    def flush(self) -> None:  # noqa: B027 - optional hook
        """Drop audio buffered while the pipeline was busy (e.g. our own spoken reply)."""

    @abstractmethod
    def items(self) -> AsyncIterator[SourceItem]:
        """Frames / lines until closed; an idle source waits (or yields silence)."""
