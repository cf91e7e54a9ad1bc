"""Moonshine in a process of its own, started again when it has grown.

moonshine-cpp 0.1.4 keeps about 19 MB of every transcription (measured: the same 1.7 s of audio
read 8 times, resident memory 607 -> 741 MB; freeing the model gives back only part of it), so
a node that lived with it in-process would grow by gigabytes a day. Here the model lives in a
child process (``python -m spark.nodes.voice.stt.moonshine_proc CONFIG_JSON``) that reports
its resident memory with every answer; past ``max_rss_mb`` it is ended and a new one starts
at once, loading while the user is not speaking. Every wait is bounded (``timeout_s``); a child
that stalls, dies or answers nonsense is ended and the utterance simply has no listener
reading (the gate then falls back to pocketsphinx's own checks).

The protocol on the child's stdin: a 4-byte little-endian length, then that many bytes of 16 kHz
mono int16 audio (length 0: exit). On its stdout, one JSON line per request
(``{"text": ..., "rss_mb": ...}``), and first ``{"ready": true}`` or ``{"error": ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from spark.nodes.voice.errors import BackendUnavailable
from spark.nodes.voice.stt.base import SpeechToText, Transcript, elapsed_ms
from spark.nodes.voice.stt.moonshine import (
    MAX_SECONDS,
    MoonshineModel,
    MoonshineSttConfig,
    spoken,
    without_wake,
)

log = logging.getLogger(__name__)

MAX_BYTES = int(MAX_SECONDS * 16000) * 2
LOAD_S = 60.0  # a model load (and the interpreter's start) on a busy Pi
MAX_LINE = 1 << 16  # an answer is one short line; more is no answer


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _say(out: Any, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def serve(config_json: str) -> int:
    """The child: load the model, then read audio and answer text until stdin ends."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        model = MoonshineModel(MoonshineSttConfig.model_validate_json(config_json))
    except (BackendUnavailable, ValueError) as exc:
        _say(stdout, {"error": str(exc)})
        return 2
    _say(stdout, {"ready": True})
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return 0
        size = int.from_bytes(head, "little")
        if size == 0:
            return 0
        if size > MAX_BYTES:
            _say(stdout, {"error": f"{size} bytes of audio is over {MAX_BYTES}"})
            return 2
        pcm = stdin.read(size)
        _say(stdout, {"text": model.transcribe(pcm), "rss_mb": round(_rss_mb(), 1)})


class MoonshineProcess:
    """The parent's side: :meth:`transcribe` from any thread (one at a time)."""

    def __init__(self, config: MoonshineSttConfig) -> None:
        self.cfg = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._ready = False
        self._lock = threading.Lock()
        self.starts = 0  # processes started (a restart after growth or a failure counts)
        self.last_rss_mb = 0.0

    def open(self) -> None:
        """Start the child and wait for its model (BackendUnavailable when it cannot load)."""
        with self._lock:
            self._start()
            self._wait_ready()

    def opened(self) -> MoonshineProcess:
        """:meth:`open`, then this process (BackendUnavailable when it cannot load)."""
        self.open()
        return self

    def _start(self) -> None:
        self._end()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "spark.nodes.voice.stt.moonshine_proc",
             self.cfg.model_dump_json()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self._buffer, self._ready = b"", False
        self.starts += 1

    def _wait_ready(self) -> None:
        reply = self._reply(time.monotonic() + LOAD_S)
        if reply is None or not reply.get("ready"):
            self._end()
            why = reply.get("error") if reply else "it did not start"
            raise BackendUnavailable(f"Moonshine: {why}")
        self._ready = True

    def transcribe(self, pcm: bytes) -> str:
        """The child's reading of ``pcm`` ("" when it failed or timed out: logged)."""
        pcm = pcm[: MAX_BYTES // 2 * 2]
        with self._lock:
            try:
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                if not self._ready:
                    self._wait_ready()
                assert self._proc is not None and self._proc.stdin is not None
                self._proc.stdin.write(len(pcm).to_bytes(4, "little") + pcm)
                self._proc.stdin.flush()
                reply = self._reply(time.monotonic() + self.cfg.timeout_s)
            except (OSError, BackendUnavailable) as exc:
                log.warning("voice: the Moonshine process failed: %s", exc)
                self._end()
                return ""
            if reply is None or not isinstance(reply.get("text"), str):
                log.warning("voice: no reading from the Moonshine process (%s); restarted",
                            "timed out or ended" if reply is None else reply)
                self._end()
                return ""
            rss = reply.get("rss_mb")
            self.last_rss_mb = float(rss) if isinstance(rss, int | float) else 0.0
            if self.last_rss_mb > self.cfg.max_rss_mb:
                log.info("voice: the Moonshine process holds %.0f MB: started afresh",
                         self.last_rss_mb)
                self._start()  # loads while nobody speaks
            return str(reply["text"])

    def _reply(self, deadline: float) -> dict[str, Any] | None:
        """The child's next JSON line, or None (timed out, ended, not JSON)."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            return None
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(self._buffer) > MAX_LINE:
                return None
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def _end(self) -> None:
        proc, self._proc = self._proc, None
        self._ready = False
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(2.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5.0)
        if proc.stdout is not None:
            proc.stdout.close()

    def close(self) -> None:
        with self._lock:
            self._end()


class MoonshineStt(SpeechToText):
    """Moonshine alone (``stt: {type: moonshine}``): free-form text; the gate has no second
    reading to hold it against."""

    type = "moonshine"

    def __init__(self, config: MoonshineSttConfig, wake_phrases: Sequence[str] = ()) -> None:
        super().__init__(config, wake_phrases)
        self.cfg = config
        self._model: MoonshineProcess | None = None
        self._audio: list[bytes] = []

    def open(self) -> None:
        if self._model is None:
            self._model = MoonshineProcess(self.cfg)
            self._model.open()

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None

    def start(self) -> None:
        self.open()
        self._audio = []

    def feed(self, pcm: bytes) -> None:
        self._audio.append(pcm)

    def cancel(self) -> None:
        self._audio = []

    def finish(self) -> Transcript:
        t0 = time.perf_counter()
        assert self._model is not None
        text = without_wake(spoken(self._model.transcribe(b"".join(self._audio))),
                            self.wake_phrases)
        self._audio = []
        return Transcript(text, "", False, text.startswith("ask spark"), elapsed_ms(t0),
                          second=text)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1] if len(sys.argv) > 1 else "{}"))
