"""A microphone through PyAudio, picked by name (e.g. "ReSpeaker").

The ReSpeaker USB 4-mic array's 6-channel firmware delivers channel 0 = processed audio for
speech recognition (beamformed, noise-suppressed), 1-4 = raw microphones, 5 = playback; the
1-channel firmware delivers only the processed one. ``channel`` picks it (default 0). Devices
that cannot record at 16 kHz are recorded at their default rate and resampled.
PyAudio is imported when the source opens, so machines without PortAudio still run.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.pcm import FRAME_BYTES, RATE
from spark.nodes.voice.sources.base import AudioFrame, SourceItem, VoiceSource
from spark.nodes.voice.stt.base import StageConfig

log = logging.getLogger(__name__)


class PyAudioSourceConfig(StageConfig):
    type: Literal["pyaudio"] = "pyaudio"
    device: str | None = Field("ReSpeaker", description="Input device name substring; None: "
                               "the system default input.")
    channels: int | None = Field(None, ge=1, le=16, description="Channels to open; default: "
                                 "all the device has (6 on the ReSpeaker 6-channel firmware).")
    channel: int = Field(0, ge=0, description="Channel to use (0: the array's processed one).")
    buffer_s: float = Field(5.0, gt=0, description="Audio kept while the pipeline is busy.")


class PyAudioSource(VoiceSource):
    type = "pyaudio"

    def __init__(self, config: PyAudioSourceConfig) -> None:
        super().__init__(config)
        self.cfg = config
        self._pa: Any = None
        self._stream: Any = None
        self._rate = RATE
        self._channels = 1
        self._buffer: collections.deque[tuple[bytes, float]] = collections.deque(
            maxlen=int(config.buffer_s / 0.03))
        self._ready = asyncio.Event()
        self._pending = b""
        self.device_name = "?"

    @property
    def name(self) -> str:
        return f"pyaudio {self.device_name} ch{self.cfg.channel}/{self._channels}"

    def _find(self) -> tuple[int | None, dict[str, Any]]:
        pa = self._pa
        if self.cfg.device is None:
            info = pa.get_default_input_device_info()
            return int(info["index"]), info
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            if (self.cfg.device.lower() in str(info.get("name", "")).lower()
                    and int(info.get("maxInputChannels", 0)) > 0):
                return i, info
        raise BackendUnavailable(f"no input device matching {self.cfg.device!r}")

    async def open(self) -> None:
        try:
            import pyaudio
        except ImportError as exc:
            raise BackendUnavailable("PyAudio is not installed (apt install portaudio19-dev; "
                                     "pip install prime-spark[voice])") from exc
        loop = asyncio.get_running_loop()
        self._pa = pyaudio.PyAudio()
        index, info = self._find()
        self.device_name = str(info.get("name"))
        self._channels = self.cfg.channels or int(info.get("maxInputChannels", 1))
        if self.cfg.channel >= self._channels:
            raise BackendUnavailable(f"channel {self.cfg.channel} but the device has "
                                     f"{self._channels}")
        try:
            self._rate = RATE if self._pa.is_format_supported(
                RATE, input_device=index, input_channels=self._channels,
                input_format=pyaudio.paInt16) else int(info["defaultSampleRate"])
        except ValueError:
            self._rate = int(info["defaultSampleRate"])

        def callback(data: bytes, _count: int, _time: Any, _status: int) -> tuple[None, int]:
            loop.call_soon_threadsafe(self._push, data)
            return None, pyaudio.paContinue

        try:
            self._stream = self._pa.open(
                format=pyaudio.paInt16, channels=self._channels, rate=self._rate, input=True,
                input_device_index=index, frames_per_buffer=int(self._rate * 0.03),
                stream_callback=callback)
        except OSError as exc:
            raise BackendUnavailable(f"cannot open {self.device_name}: {exc}") from exc
        log.info("microphone: %s", self.name)

    def _push(self, data: bytes) -> None:
        import numpy as np

        from spark.nodes.voice.audio import resample, to_mono

        samples = to_mono(np.frombuffer(data, np.int16), self._channels, self.cfg.channel)
        pcm = self._pending + resample(samples, self._rate, RATE).tobytes()
        now = time.monotonic()  # the audio's capture time, not when the pipeline gets to it
        while len(pcm) >= FRAME_BYTES:
            self._buffer.append((pcm[:FRAME_BYTES], now))
            pcm = pcm[FRAME_BYTES:]
        self._pending = pcm
        self._ready.set()

    def flush(self) -> None:
        self._buffer.clear()

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.stop_stream()
            self._stream.close()
            self._stream = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    async def items(self) -> AsyncIterator[SourceItem]:
        while True:
            while self._buffer:
                pcm, at = self._buffer.popleft()
                yield AudioFrame(pcm, at=at)
            self._ready.clear()
            await self._ready.wait()
