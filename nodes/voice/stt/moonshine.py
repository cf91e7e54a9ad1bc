"""Moonshine speech-to-text: a neural encoder-decoder model, trained apart from pocketsphinx.

Two uses:

* ``type: moonshine`` on its own: free-form text, the intent parser does the rest (like
  faster-whisper; no second reading, so the gate has nothing to check it against).
* the pocketsphinx backend's ``listener``: an independent second listener of every
  utterance. Its reading (``Transcript.second``) leads
  when it is a whole command, and the gate (confirm.py) acts on it only where the two models
  agree or pocketsphinx's own checks of the deciding word confirm it.

The ``moonshine-cpp`` wheel (MIT, Moonshine AI) ships the English *base* model (encoder and
decoder for ONNX Runtime, 63 MB) with its C library and ONNX Runtime: nothing is downloaded.
We load that library ourselves with ctypes (its C API: ``moonshine_load_model``,
``moonshine_transcribe`` on 16 kHz float samples, ``moonshine_free_text``), not through the
wheel's Python module, which loads its libraries at import. The wheel is built for x86-64
Linux only; elsewhere (a Pi's aarch64) ``open`` raises :class:`BackendUnavailable` and the
pocketsphinx backend carries on alone (logged once). The model runs in a process of its own
(moonshine_proc.py: the library keeps memory from every transcription).
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.numbers import ONES
from spark.nodes.voice.stt.base import StageConfig
from spark.nodes.voice.vocab import normalize

PACKAGE = "moonshine_cpp"
ORT_LIB = "libonnxruntime.so.1.22.1"
MOONSHINE_LIB = "libmoonshine.so"
MODEL_TYPES = {"tiny": 0, "base": 1}
# The model reads at most this much audio (longer speech is no command; the encoder's cost
# grows with the audio).
MAX_SECONDS = 12.0
_DECIMAL_RE = re.compile(r"(\d+)\.(\d+)")
_DEGREES_RE = re.compile(r"\s*°\s*[cf]?\b|\s*℃", re.IGNORECASE)


class MoonshineSttConfig(StageConfig):
    type: Literal["moonshine"] = "moonshine"
    model_dir: Path | None = Field(None, description="A directory with encoder_model.ort, "
                                   "decoder_model_merged.ort and tokenizer.bin; default: the "
                                   "English base model in the moonshine-cpp wheel.")
    model_type: Literal["tiny", "base"] = Field("base", description="The architecture of "
                                                "the model in model_dir.")
    max_rss_mb: float = Field(900.0, ge=400, description="The model runs in a process of its "
                              "own, started again once its resident memory passes this "
                              "(moonshine-cpp 0.1.4 keeps ~19 MB of every transcription).")
    timeout_s: float = Field(15.0, gt=0, le=120, description="Longest wait for one reading; "
                             "then the process is ended and the utterance has no listener "
                             "reading.")


def spoken(text: str) -> str:
    """Moonshine writes ("Set the setpoint to 21.5°C."); the grammar and the intent parser
    read words: ``"set the setpoint to twenty one point five degrees"``."""
    text = _DEGREES_RE.sub(" degrees", text)
    text = _DECIMAL_RE.sub(lambda m: f"{m.group(1)} point "
                           + " ".join(ONES[int(d)] for d in m.group(2)), text)
    text = re.sub(r"(\d),(\d{3})\b", r"\1\2", text)  # 1,000
    return normalize(text)


class MoonshineModel:
    """The C library and one loaded model; :meth:`transcribe` from one thread at a time."""

    def __init__(self, config: MoonshineSttConfig) -> None:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise BackendUnavailable("moonshine-cpp is not installed (pip install "
                                     "moonshine-cpp; x86-64 Linux wheels only)")
        home = Path(next(iter(spec.submodule_search_locations)))
        model_dir = config.model_dir or home / "models" / "base-en"
        files = [model_dir / n for n in ("encoder_model.ort", "decoder_model_merged.ort",
                                         "tokenizer.bin")]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise BackendUnavailable(f"no Moonshine model: missing {', '.join(missing)}")
        try:
            ctypes.CDLL(str(home / ORT_LIB))  # libmoonshine finds it loaded
            lib = ctypes.CDLL(str(home / MOONSHINE_LIB))
        except OSError as exc:
            raise BackendUnavailable(f"the Moonshine library does not load here: {exc}") \
                from exc
        lib.moonshine_load_model.argtypes = (ctypes.c_char_p, ctypes.c_char_p,
                                             ctypes.c_char_p, ctypes.c_int32)
        lib.moonshine_load_model.restype = ctypes.c_int
        lib.moonshine_transcribe.argtypes = (ctypes.c_int, ctypes.POINTER(ctypes.c_float),
                                             ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p))
        lib.moonshine_transcribe.restype = ctypes.c_int
        lib.moonshine_free_text.argtypes = (ctypes.c_char_p,)
        lib.moonshine_free_text.restype = None
        lib.moonshine_free_model.argtypes = (ctypes.c_int,)
        lib.moonshine_free_model.restype = None
        handle = lib.moonshine_load_model(*(str(f).encode() for f in files),
                                          MODEL_TYPES[config.model_type])
        if handle < 0:
            raise BackendUnavailable(f"Moonshine could not load the model in {model_dir}")
        self._lib, self._handle = lib, handle
        self._lock = threading.Lock()

    def transcribe(self, pcm: bytes) -> str:
        """The text Moonshine reads in 16 kHz mono int16 ``pcm`` (as it writes it)."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], np.int16)
        samples = samples[: int(MAX_SECONDS * 16000)]
        if samples.size < 1600:  # under 0.1 s: nothing to read
            return ""
        audio = np.ascontiguousarray(samples, dtype=np.float32) / 32768.0
        out = ctypes.c_char_p()
        with self._lock:
            if self._handle < 0:
                raise BackendUnavailable("the Moonshine model is closed")
            err = self._lib.moonshine_transcribe(
                self._handle, audio.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                audio.size, ctypes.byref(out))
            if err != 0:
                return ""
            text = (out.value or b"").decode("utf-8", errors="replace")
            self._lib.moonshine_free_text(out)
        return text

    def close(self) -> None:
        with self._lock:
            if self._handle >= 0:
                self._lib.moonshine_free_model(self._handle)
                self._handle = -1


def without_wake(text: str, wake_phrases: Sequence[str]) -> str:
    """``text`` without a wake phrase (or its last words: the audio after a neural engine's
    wake point may hold "nabu") at its start."""
    words = text.split()
    for phrase in wake_phrases:
        said = phrase.split()
        for k in range(len(said), 0, -1):
            if words[:k] == said[-k:]:
                return " ".join(words[k:])
    return text

