"""Spoken replies: text -> 16 kHz PCM (espeak-ng by default, piper with a voice model), and
where the sound goes (PyAudio output device, WAV files, nowhere).

espeak-ng is a Debian package (``scripts/bootstrap.sh`` installs it); it runs as a subprocess
writing a WAV to stdout (``synthproc.py``: killed and reaped when the reply is cancelled). piper
runs the same way when its binary and a ``.onnx`` voice exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field

from spark.core.registry import TypeRegistry
from spark.nodes.voice.errors import BackendUnavailable, SpeechError
from spark.nodes.voice.pcm import RATE
from spark.nodes.voice.stt.base import StageConfig
from spark.nodes.voice.synthproc import run_synthesiser
from spark.nodes.voice.wyoming import WyomingError, WyomingLink, WyomingServerConfig

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


class EspeakTtsConfig(StageConfig):
    type: Literal["espeak-ng"] = "espeak-ng"
    voice: str = Field("en-us", description="espeak-ng voice, e.g. en-us, en-gb+m3, en-us+f3.")
    speed: int = Field(165, ge=80, le=450, description="Words per minute.")
    binary: str = Field("espeak-ng", description="Program name or path.")


class PiperTtsConfig(StageConfig):
    type: Literal["piper"] = "piper"
    model: Path = Field(description="Piper voice model (.onnx, its .onnx.json beside it).")
    binary: str = Field("piper", description="Program name or path.")


class WyomingTtsConfig(WyomingServerConfig):
    type: Literal["wyoming"] = "wyoming"
    voice: str | None = Field(None, max_length=100, description="Voice name on the server "
                              "(piper: e.g. en_US-lessac-medium); default: the server's.")


TtsConfig = Annotated[EspeakTtsConfig | PiperTtsConfig | WyomingTtsConfig,
                      Field(discriminator="type")]


class TextToSpeech(ABC):
    type: ClassVar[str]

    def __init__(self, config: Any) -> None:
        self.config = config

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise BackendUnavailable when the synthesiser is missing."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    async def synthesize(self, text: str) -> np.ndarray:
        """16 kHz mono int16 samples saying ``text``."""


class EspeakTts(TextToSpeech):
    type = "espeak-ng"

    def check(self) -> None:
        if shutil.which(self.config.binary) is None:
            raise BackendUnavailable(f"{self.config.binary} not found (apt install espeak-ng)")

    async def synthesize(self, text: str, voice: str | None = None,
                         speed: int | None = None) -> np.ndarray:
        argv = [self.config.binary, "-v", voice or self.config.voice,
                "-s", str(speed or self.config.speed), "--stdout", "--stdin"]
        from spark.nodes.voice.audio import decode_wav

        return decode_wav(await run_synthesiser(argv, text))


class PiperTts(TextToSpeech):
    type = "piper"

    def check(self) -> None:
        if shutil.which(self.config.binary) is None:
            raise BackendUnavailable(f"{self.config.binary} not found (pip install piper-tts)")
        if not self.config.model.is_file():
            raise BackendUnavailable(f"no piper voice at {self.config.model}")

    async def synthesize(self, text: str) -> np.ndarray:
        argv = [self.config.binary, "--model", str(self.config.model), "--output_file", "-"]
        from spark.nodes.voice.audio import decode_wav

        return decode_wav(await run_synthesiser(argv, text))


class WyomingTts(TextToSpeech):
    """Replies spoken by a Wyoming server (wyoming-piper, ...): its link (``wyoming.py``) is
    supervised by a task of the node's event loop, started at the first reply."""

    type = "wyoming"

    def __init__(self, config: WyomingTtsConfig) -> None:
        super().__init__(config)
        self.link = WyomingLink(config)
        self._task: asyncio.Task[None] | None = None

    async def synthesize(self, text: str) -> np.ndarray:
        import numpy as np

        from spark.nodes.voice.audio import resample, to_mono

        if self._task is None:
            self._task = asyncio.create_task(self.link.run(), name=f"tts-{self.link.name}")
        try:
            audio, rate, width, channels = await self.link.synthesize(text, self.config.voice)
        except WyomingError as exc:
            raise SpeechError(f"{self.link.name}: {exc}") from exc
        if width != 2:
            raise SpeechError(f"{self.link.name}: {8 * width}-bit audio (16-bit expected)")
        samples = np.frombuffer(audio[:len(audio) - len(audio) % (2 * channels)], "<i2")
        return resample(to_mono(samples, channels), rate, RATE)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


TTS_BACKENDS: TypeRegistry[type[TextToSpeech]] = TypeRegistry(
    "tts backend", {"espeak-ng": EspeakTts, "piper": PiperTts, "wyoming": WyomingTts})


def make_tts(config: TtsConfig) -> TextToSpeech:
    return TTS_BACKENDS.get(config.type)(config)


# ---- where replies go ---------------------------------------------------------------------
class PyAudioOutputConfig(StageConfig):
    type: Literal["pyaudio"] = "pyaudio"
    device: str | None = Field(None, description="Output device name substring; default: the "
                               "system default output.")


class FileOutputConfig(StageConfig):
    type: Literal["file"] = "file"
    directory: Path = Field(description="Each reply is written here as reply-NNNN.wav.")


class NoOutputConfig(StageConfig):
    type: Literal["none"] = "none"


OutputConfig = Annotated[PyAudioOutputConfig | FileOutputConfig | NoOutputConfig,
                         Field(discriminator="type")]


class Speaker(ABC):
    @abstractmethod
    async def play(self, samples: np.ndarray, volume: float) -> None:
        """Play (or store) ``samples`` at ``volume`` (0..1)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


def scale(samples: np.ndarray, volume: float) -> np.ndarray:
    from spark.nodes.voice.audio import as_int16

    return as_int16(samples.astype("float64") * max(0.0, min(1.0, volume)))


class NoSpeaker(Speaker):
    async def play(self, samples: np.ndarray, volume: float) -> None:
        return None


class FileSpeaker(Speaker):
    def __init__(self, config: FileOutputConfig) -> None:
        self.directory = config.directory
        self._count = itertools.count(1)
        self.written: list[Path] = []

    async def play(self, samples: np.ndarray, volume: float) -> None:
        from spark.nodes.voice.audio import encode_wav

        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"reply-{next(self._count):04d}.wav"
        await asyncio.to_thread(path.write_bytes, encode_wav(scale(samples, volume)))
        self.written.append(path)


class PyAudioSpeaker(Speaker):
    def __init__(self, config: PyAudioOutputConfig) -> None:
        try:
            import pyaudio
        except ImportError as exc:
            raise BackendUnavailable("PyAudio is not installed (needs portaudio19-dev)") from exc
        self._pa = pyaudio.PyAudio()
        self._index: int | None = None
        if config.device:
            for i in range(self._pa.get_device_count()):
                info = self._pa.get_device_info_by_index(i)
                if config.device.lower() in str(info.get("name", "")).lower() and int(
                        info.get("maxOutputChannels", 0)) > 0:
                    self._index = i
                    break
            else:
                raise BackendUnavailable(f"no output device matching {config.device!r}")

    def _play(self, data: bytes) -> None:
        import pyaudio

        stream = self._pa.open(format=pyaudio.paInt16, channels=1, rate=RATE, output=True,
                               output_device_index=self._index)
        try:
            stream.write(data)
        finally:
            stream.stop_stream()
            stream.close()

    async def play(self, samples: np.ndarray, volume: float) -> None:
        t0 = time.monotonic()
        await asyncio.to_thread(self._play, scale(samples, volume).tobytes())
        log.debug("played %.1f s of reply in %.1f s", len(samples) / RATE, time.monotonic() - t0)

    def close(self) -> None:
        self._pa.terminate()


SPEAKERS: TypeRegistry[Callable[[Any], Speaker]] = TypeRegistry("reply output", {
    "pyaudio": PyAudioSpeaker, "file": FileSpeaker, "none": lambda _config: NoSpeaker()})


def make_speaker(config: OutputConfig) -> Speaker:
    return SPEAKERS.get(config.type)(config)
