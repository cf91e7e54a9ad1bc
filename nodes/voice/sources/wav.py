"""WAV files as the microphone: one file, or a folder replayed in name order and watched for new
files (tests and replays drop files in). Any rate / width / channel count is converted.

Files play back-to-back as fast as the pipeline takes them (``realtime: false``) with
``gap_s`` of quiet between them; when nothing is left the source behaves like a quiet room:
low-level noise at real-time pace, so end-of-speech and listening timeouts still run.
A file's own room noise is seeded by its name: a replay sounds the same however long the
source idled before it (benchmarks repeat on any machine).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.pcm import FRAME_S, FRAME_SAMPLES
from spark.nodes.voice.sources.base import AudioFrame, SourceItem, SourceMark, VoiceSource
from spark.nodes.voice.stt.base import StageConfig

if TYPE_CHECKING:
    import numpy as np


class WavSourceConfig(StageConfig):
    type: Literal["wav"] = "wav"
    path: Path = Field(description="A .wav file, or a folder whose .wav files are replayed.")
    watch: bool = Field(True, description="Folder: also play files that appear later.")
    realtime: bool = Field(False, description="Pace files at real time (like a microphone).")
    gap_s: float = Field(1.0, ge=0, description="Quiet between files, seconds.")
    noise_level: float = Field(8.0, ge=0, description="Room noise added everywhere, LSB rms "
                               "(8 is about -72 dBFS): digital silence upsets recognisers.")
    channel: int | None = Field(None, ge=0, description="Channel to use; default: the mix.")
    poll_s: float = Field(0.1, gt=0, description="How often a watched folder is checked.")


class WavSource(VoiceSource):
    type = "wav"

    def __init__(self, config: WavSourceConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self.done: list[str] = []
        self._rng: Any = None  # numpy's, made when playing starts
        self.started: float | None = None  # real time: when the file playing now began

    @property
    def name(self) -> str:
        return f"wav {self.cfg.path}"

    async def open(self) -> None:
        if not self.cfg.path.exists():
            raise BackendUnavailable(f"{self.cfg.path} does not exist")

    def _pending(self) -> list[Path]:
        path = self.cfg.path
        if path.is_file():
            return [path] if str(path) not in self.done else []
        if self.done and not self.cfg.watch:
            return []
        files = sorted(p for p in path.glob("*.wav") if p.is_file())
        return [p for p in files if str(p) not in self.done]

    async def _play(self, path: Path, samples: np.ndarray) -> AsyncIterator[AudioFrame]:
        import numpy as np

        from spark.nodes.voice.audio import dither, frames

        rng = np.random.default_rng(zlib.crc32(path.name.encode()))
        samples = dither(samples, rng, self.cfg.noise_level)
        if not self.cfg.realtime:
            for frame in frames(samples):
                yield AudioFrame(frame, live=False)
                await asyncio.sleep(0)
            return
        # Like a sound card: frame i is there when its audio has ended, on a clock of its
        # own (sleeps do not add up), stamped with that time; a pipeline that falls behind
        # gets the frames it missed at once, as from a driver's buffer.
        start = self.started = time.monotonic()  # AudioFrame.at's clock
        for i, frame in enumerate(frames(samples)):
            due = start + (i + 1) * FRAME_S
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            yield AudioFrame(frame, live=True, at=due)

    async def items(self) -> AsyncIterator[SourceItem]:
        import numpy as np

        from spark.nodes.voice.audio import dither, read_wav, silence

        self._rng = np.random.default_rng(0)
        quiet = silence(FRAME_S)
        while True:
            pending = self._pending()
            if not pending:
                # A quiet room in real time until a file shows up.
                for _ in range(max(1, round(self.cfg.poll_s / FRAME_S))):
                    frame = dither(quiet, self._rng, self.cfg.noise_level)[:FRAME_SAMPLES]
                    yield AudioFrame(frame.tobytes(), live=True)
                    await asyncio.sleep(FRAME_S)
                continue
            for path in pending:
                try:
                    samples = await asyncio.to_thread(read_wav, path, self.cfg.channel)
                except (OSError, ValueError, EOFError) as exc:
                    samples = silence(0)
                    yield SourceMark(f"{path} (unreadable: {exc})")
                samples = np.concatenate([samples, silence(self.cfg.gap_s)])
                async for played in self._play(path, samples):
                    yield played
                self.done.append(str(path))
                yield SourceMark(str(path), self.started)
                self.started = None
